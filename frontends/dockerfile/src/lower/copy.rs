//! `COPY` and `ADD`: sources from the context, stages, images, URLs, git and heredocs, lowered
//! to file ops (and a merge for `--link`).

use gb_ir::{
    Chown, CopyAction, FileAction, FileOp, GitSource, HttpSource, IdOrName, Input, MergeOp, MkfileAction, Op, OpNode,
    Sha256Digest, SourceOp,
};

use super::paths::{context_relative, resolve_dest};
use super::run::Inputs;
use super::vars::Scope;
use super::{Lowerer, StageState, history_entry, without_byte_offset};
use crate::error::{DockerfileError, ErrorKind};
use crate::instructions::{Command, CopyCommand, Instruction, error_at_node, error_at_text};
use crate::parser::Node;

/// Parses `user[:group]` into ids or names.
pub(crate) fn parse_chown(text: &str) -> Option<Chown> {
    if text.is_empty() {
        return None;
    }
    let id_or_name =
        |part: &str| part.parse::<u32>().map(IdOrName::Id).unwrap_or_else(|_| IdOrName::Name(part.to_owned()));
    let (user, group) = match text.split_once(':') {
        Some((user, group)) => (user, Some(group).filter(|g| !g.is_empty())),
        None => (text, None),
    };
    Some(Chown { user: id_or_name(user), group: group.map(id_or_name) })
}

/// Whether an ADD source is a git repository rather than a plain URL, with BuildKit's rules.
pub(super) fn is_git_url(src: &str) -> bool {
    src.starts_with("git://")
        || src.starts_with("git@")
        || src.starts_with("ssh://")
        || src.starts_with("github.com/")
        || ((src.starts_with("https://") || src.starts_with("http://") || src.starts_with("file://"))
            && src.split('#').next().is_some_and(|url| url.ends_with(".git")))
}

pub(super) fn is_url(src: &str) -> bool {
    src.starts_with("http://") || src.starts_with("https://")
}

fn has_wildcard(path: &str) -> bool {
    path.contains(['*', '?', '['])
}

impl Lowerer<'_> {
    pub(crate) fn lower_copy(
        &mut self,
        stage: &mut StageState,
        instruction: &Instruction,
        copy: &CopyCommand,
        description: String,
    ) -> Result<(), DockerfileError> {
        let node = &instruction.node;
        let what = if copy.is_add { "ADD" } else { "COPY" };
        let dest_word = self.expand(stage, &copy.dest, node, what)?;
        let dest = resolve_dest(stage.config.working_dir.as_deref(), &dest_word);
        let owner = match &copy.chown {
            Some(chown) => parse_chown(&self.expand(stage, chown, node, "--chown")?),
            None => None,
        };
        let chmod = match &copy.chmod {
            Some(chmod) => {
                let chmod = self.expand(stage, chmod, node, "--chmod")?;
                // A value that looks numeric must be octal up to 07777, with BuildKit's message
                // (`convert_copy.go`); anything else must be a symbolic mode.
                if chmod.starts_with(|c: char| c.is_ascii_digit()) {
                    if !u32::from_str_radix(&chmod, 8).is_ok_and(|mode| mode <= 0o7777) {
                        return Err(error_at_text(
                            self.source,
                            node,
                            &chmod,
                            format!(
                                "invalid chmod parameter: '{chmod}'. it should be octal string and between 0 and 07777"
                            ),
                        ));
                    }
                    Some(chmod)
                } else {
                    let symbolic = !chmod.is_empty() && chmod.chars().all(|c| "ugoa+-=rwxXst,".contains(c));
                    if !symbolic {
                        return Err(error_at_text(
                            self.source,
                            node,
                            &chmod,
                            format!("invalid --chmod value {chmod:?}: expected octal digits or a symbolic mode"),
                        ));
                    }
                    Some(chmod)
                }
            }
            None => None,
        };
        // BuildKit expands no variable in `--exclude` (its COPY and ADD `Expand` leave the
        // patterns alone), so a `$` in one is matched as written.
        let excludes = copy.exclude.clone();
        if copy.checksum.is_some() && !copy.is_add {
            return Err(error_at_node(self.source, node, "--checksum is only supported by ADD"));
        }
        // A URL's checksum is a sha256 digest; a git source's is the commit it must resolve to.
        let checksum_text = match &copy.checksum {
            Some(text) => Some(self.expand(stage, text, node, "--checksum")?),
            None => None,
        };
        let url_checksum = |text: &str| -> Result<Sha256Digest, DockerfileError> {
            text.parse::<Sha256Digest>().map_err(|err| error_at_text(self.source, node, text, err.to_string()))
        };

        let mut sources = Vec::new();
        for src in &copy.sources {
            if let Some(heredoc) =
                src.strip_prefix("<<").map(|name| name.trim_start_matches('-').trim_matches(['"', '\'']))
                && let Some(body) = copy.heredocs.iter().find(|h| h.name == heredoc)
            {
                sources.push(Source::Heredoc {
                    name: body.name.clone(),
                    content: body.body().into_owned(),
                    expand: body.expand,
                });
                continue;
            }
            let src = self.expand(stage, src, node, what)?;
            sources.push(Source::Path(src));
        }
        if sources.len() > 1 && !dest.ends_with('/') {
            return Err(error_at_text(
                self.source,
                node,
                &copy.dest,
                format!(
                    "when using {what} with more than one source file, the destination must be a directory and end with a /"
                ),
            ));
        }

        // `--from` is used as written: one that would expand differently was refused before
        // any stage was lowered ([`Self::check_copy_from`]).
        let from = copy.from.clone();
        if copy.is_add && from.is_some() {
            return Err(error_at_node(self.source, node, "ADD does not support --from; use COPY --from"));
        }
        let mut inputs = Inputs::default();
        let base = if copy.link { None } else { stage.fs.clone().map(|fs| inputs.index(fs)) };
        let mut actions = Vec::new();
        let mut context_paths = Vec::new();
        let from_input = match &from {
            Some(from) => Some(self.resolve_from(stage, node, from, super::run::FromUse::Copy)?),
            None => None,
        };
        let mut pending: Vec<(Option<Input>, CopyAction)> = Vec::new();
        for source in &sources {
            let action_for = |src: String| {
                let mut action = CopyAction::docker(0, src, dest.clone());
                action.owner = owner.clone();
                action.chmod = chmod.clone();
                action.exclude = excludes.clone();
                action.parents = copy.parents;
                action
            };
            match source {
                Source::Heredoc { name, content, expand } => {
                    let data = if *expand { self.expand_heredoc(stage, content, node, what)? } else { content.clone() };
                    let file = OpNode {
                        inputs: Vec::new(),
                        op: Op::File(FileOp {
                            base: None,
                            actions: vec![FileAction::Mkfile(MkfileAction {
                                path: format!("/{name}"),
                                mode: 0o644,
                                data,
                                owner: None,
                            })],
                        }),
                        // Every file op carries its stage's platform, as BuildKit's do, so no
                        // result is shared between two platforms' builds.
                        platform: Some(stage.platform.clone()),
                    };
                    let digest = self.add_op(file, format!("{description} <<{name}"), Some(node));
                    pending.push((Some(Input::of(digest)), action_for(format!("/{name}"))));
                }
                Source::Path(src) if copy.is_add && is_git_url(src) => {
                    let (remote, fragment) = src.split_once('#').map_or((src.as_str(), None), |(r, f)| (r, Some(f)));
                    let (reference, subdir) = match fragment {
                        Some(fragment) => match fragment.split_once(':') {
                            Some((r, s)) => (
                                Some(r.to_owned()).filter(|r| !r.is_empty()),
                                Some(s.to_owned()).filter(|s| !s.is_empty()),
                            ),
                            None => (Some(fragment.to_owned()).filter(|r| !r.is_empty()), None),
                        },
                        None => (None, None),
                    };
                    let git = OpNode {
                        inputs: Vec::new(),
                        op: Op::Source(SourceOp::Git(GitSource {
                            remote: remote.to_owned(),
                            reference,
                            subdir,
                            keep_git_dir: copy.keep_git_dir,
                            checksum: checksum_text.clone().map(|c| c.trim_start_matches("sha256:").to_owned()),
                        })),
                        platform: None,
                    };
                    let digest = self.add_op(git, format!("{description} (git {remote})"), Some(node));
                    pending.push((Some(Input::of(digest)), action_for("/".to_owned())));
                }
                Source::Path(src) if copy.is_add && is_url(src) => {
                    let filename = src
                        .split(['?', '#'])
                        .next()
                        .and_then(|u| u.rsplit('/').next())
                        .filter(|f| !f.is_empty())
                        .unwrap_or("__unnamed__")
                        .to_owned();
                    let http = OpNode {
                        inputs: Vec::new(),
                        op: Op::Source(SourceOp::Http(HttpSource {
                            url: src.clone(),
                            checksum: checksum_text.as_deref().map(url_checksum).transpose()?,
                            filename: Some(filename.clone()),
                        })),
                        platform: None,
                    };
                    let digest = self.add_op(http, format!("{description} (fetch {src})"), Some(node));
                    let mut action = action_for(format!("/{filename}"));
                    action.allow_wildcard = false;
                    pending.push((Some(Input::of(digest)), action));
                }
                Source::Path(src) => {
                    if copy.checksum.is_some() {
                        return Err(error_at_text(self.source, node, src, "checksum requires HTTP(S) or Git sources"));
                    }
                    if from_input.is_none() {
                        self.lint_copy_source(copy.is_add, src, node);
                    }
                    let mut action = match &from_input {
                        Some(_) => {
                            action_for(if copy.parents { src.clone() } else { super::paths::clean_absolute(src) })
                        }
                        None => {
                            let relative = if copy.parents {
                                src.trim_start_matches('/').to_owned()
                            } else {
                                context_relative(src)
                            };
                            if !relative.is_empty() && relative != "." {
                                context_paths.push(if copy.parents {
                                    context_relative(&relative.replace("/./", "/"))
                                } else {
                                    relative.clone()
                                });
                            } else {
                                context_paths.push(String::new());
                            }
                            action_for(format!("/{relative}"))
                        }
                    };
                    action.attempt_unpack = copy.is_add && copy.unpack.unwrap_or(true);
                    action.allow_wildcard = has_wildcard(src) || action.allow_wildcard;
                    // A wildcard matching nothing copies nothing, as in BuildKit v0.32.2 (side by
                    // side: `COPY a.txt nomatch* /w/` copies a.txt; `COPY nomatch* /w/` alone
                    // succeeds and creates no /w).
                    action.allow_empty_wildcard = action.allow_wildcard;
                    pending.push((from_input.clone(), action));
                }
            }
        }

        // Sources from the context read only the paths named, so the context's content key
        // covers exactly those files.
        let context_input = if pending.iter().any(|(input, _)| input.is_none()) {
            let include = if context_paths.iter().any(String::is_empty) { Vec::new() } else { dedup(context_paths) };
            Some(self.context_source(include, node))
        } else {
            None
        };
        for (input, mut action) in pending {
            let input = input.or_else(|| context_input.clone());
            let Some(input) = input else { continue };
            action.source = inputs.index(input);
            actions.push(FileAction::Copy(action));
        }

        let file =
            OpNode { inputs: inputs.0, op: Op::File(FileOp { base, actions }), platform: Some(stage.platform.clone()) };
        let mut digest = self.add_op(file, description.clone(), Some(node));
        if copy.link {
            // `--link` copies onto scratch and merges, so the layer does not depend on what is
            // below it and survives a change of base.
            if let Some(below) = stage.fs.clone() {
                let merge =
                    OpNode { inputs: vec![below, Input::of(digest)], op: Op::Merge(MergeOp {}), platform: None };
                digest = self.add_op(merge, description, Some(node));
            }
        }
        stage.fs = Some(Input::of(digest));

        // As BuildKit words it: `--parents`, `--chown` and `--chmod` are kept, `--from` and
        // `--link` are not (`COPY --from=base foo2 foo3` reads `COPY foo2 foo3`).
        let mut created_by = vec![what.to_owned()];
        if copy.parents {
            created_by.push("--parents".to_owned());
        }
        if let Some(chown) = &copy.chown {
            created_by.push(format!("--chown={chown}"));
        }
        if let Some(chmod) = &chmod {
            created_by.push(format!("--chmod={chmod}"));
        }
        for source in &sources {
            created_by.push(match source {
                Source::Path(path) => path.clone(),
                Source::Heredoc { name, .. } => format!("<<{name}"),
            });
        }
        created_by.push(dest_word);
        stage.history.push(history_entry(created_by.join(" "), true));
        Ok(())
    }
}

impl Lowerer<'_> {
    /// Refuses a `COPY --from` that would expand (a variable, quotes, an escape), as BuildKit's
    /// `toCommand` does for every stage before any is built, so which stage a COPY reads never
    /// depends on a variable. As there, the value is expanded with no variable set and must
    /// come out as written.
    pub(crate) fn check_copy_from(&self, instruction: &Instruction) -> Result<(), DockerfileError> {
        let Command::Copy(CopyCommand { from: Some(from), .. }) = &instruction.command else {
            return Ok(());
        };
        let node = &instruction.node;
        let nothing_set = Scope { arg_env: &[], env: &[], args: &[], deferred_base: false };
        match self.lexer.expand_word(from, &nothing_set) {
            Ok(expansion) if expansion.value == *from => Ok(()),
            Ok(_) => Err(error_at_text(
                self.source,
                node,
                from,
                "variable expansion is not supported for --from, define a new stage with FROM using ARG from global scope as a workaround",
            )),
            Err(err) => {
                let mut error = error_at_text(self.source, node, from, without_byte_offset(&err.to_string()));
                error.kind = ErrorKind::Expansion;
                Err(error)
            }
        }
    }

    /// The body of a heredoc whose delimiter is not quoted, as BuildKit's `ExpandRaw` makes it:
    /// variables expanded and `\` escapes applied (`\\` gives `\`, `\$` gives `$`, and a `\`
    /// before a line break is dropped, the line break kept), with `\` as the escape whatever
    /// `# escape=` says, and quotes kept as written.
    fn expand_heredoc(
        &mut self,
        stage: &StageState,
        body: &str,
        node: &Node,
        what: &str,
    ) -> Result<String, DockerfileError> {
        // BuildKit's lexer skips quote processing there; escaping each quote that no `\`
        // escapes already makes the ordinary lexer give the same text. `added` keeps where
        // escapes were added, to point an error at the body as written.
        let mut word = String::with_capacity(body.len());
        let mut added = Vec::new();
        let mut chars = body.chars();
        while let Some(ch) = chars.next() {
            match ch {
                '\\' => {
                    word.push(ch);
                    word.extend(chars.next());
                }
                '"' | '\'' => {
                    added.push(word.len());
                    word.push('\\');
                    word.push(ch);
                }
                _ => word.push(ch),
            }
        }
        let expansion = gb_shell::Lexer::new('\\').expand_word(&word, &stage.scope()).map_err(|err| {
            let in_body = err.offset().saturating_sub(added.iter().filter(|&&at| at < err.offset()).count());
            let range = self.source.get(node.location.start..node.location.end).unwrap_or_default();
            // A body whose tabs `<<-` stripped is not in the source as it is: point at the COPY.
            let offset = range.find(body).map_or(0, |at| at + in_body);
            self.expansion_error(node.location.start + offset, &err)
        })?;
        self.charge_expansion(expansion.value.len(), body, node)?;
        self.lint_undefined_vars(stage, &expansion.unmatched, node);
        Ok(self.fill_holes(expansion.value, node, what))
    }
}

enum Source {
    Path(String),
    Heredoc { name: String, content: String, expand: bool },
}

fn dedup(mut paths: Vec<String>) -> Vec<String> {
    paths.sort();
    paths.dedup();
    paths
}
