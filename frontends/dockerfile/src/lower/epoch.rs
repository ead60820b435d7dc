//! SOURCE_DATE_EPOCH as BuildKit's Dockerfile front end resolves it (`dockerfile2llb/epoch.go`):
//! the build arg, else the Dockerfile's global `ARG SOURCE_DATE_EPOCH=...` default, is a number
//! of seconds, empty (no epoch), `context` (the build context's time), a named context's name
//! (its time) or a stage's name (the time of the one remote `ADD` of a `FROM scratch` stage).
//! A remote source's time is a git commit's committer time, an http(s) file's Last-Modified, or
//! the newest file of the archive it is; a local directory has none. The resolved value replaces
//! the build arg and the global ARG, so RUN steps see the number, and is the image's epoch.

use crate::error::{DockerfileError, ErrorKind};
use crate::instructions::{Command, CopyCommand, Instruction, error_at_node};

use super::{Lowerer, ResolveError, named_context_key, vars};

/// The build arg (and global ARG) that sets the build's epoch.
pub const SOURCE_DATE_EPOCH: &str = "SOURCE_DATE_EPOCH";

/// The key of [`super::LowerOptions::remote_contexts`] for the main build context.
pub const MAIN_CONTEXT: &str = "context";

/// A remote source whose time SOURCE_DATE_EPOCH can take.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RemoteSource {
    /// A file at an http(s) URL: its Last-Modified, else the newest regular file of the
    /// (compressed) tar archive it is, else none.
    Http {
        /// The URL.
        url: String,
        /// `ADD --checksum`, as written after expansion.
        checksum: Option<String>,
    },
    /// A git repository as `ADD` and build contexts name one (`URL#ref:subdir`): the commit's
    /// committer time.
    Git {
        /// The URL, with its fragment.
        url: String,
    },
}

impl RemoteSource {
    /// The source a URL names, by BuildKit's rules for ADD; `None` for what is no remote source.
    pub fn of_url(url: &str) -> Option<Self> {
        if super::copy::is_git_url(url) {
            Some(Self::Git { url: url.to_owned() })
        } else if super::copy::is_url(url) {
            Some(Self::Http { url: url.to_owned(), checksum: None })
        } else {
            None
        }
    }
}

impl Lowerer<'_> {
    /// Resolves SOURCE_DATE_EPOCH once the global ARGs are declared, and writes the resolved
    /// number (or nothing) back where the value came from.
    pub(super) fn resolve_source_date_epoch(&mut self) -> Result<(), DockerfileError> {
        let value = match self.build_args.get(SOURCE_DATE_EPOCH) {
            Some(value) => value.clone(),
            None => match self.global_arg(SOURCE_DATE_EPOCH) {
                Some(value) if !value.is_empty() => value,
                _ => return Ok(()),
            },
        };
        let epoch = self.epoch_of(&value)?;
        self.source_date_epoch = epoch;
        let resolved = epoch.map(|seconds| seconds.to_string());
        match &resolved {
            Some(number) if self.build_args.contains_key(SOURCE_DATE_EPOCH) => {
                self.build_args.insert(SOURCE_DATE_EPOCH.to_owned(), number.clone());
            }
            _ => {
                self.build_args.remove(SOURCE_DATE_EPOCH);
            }
        }
        for (name, global) in &mut self.meta_args {
            if name == SOURCE_DATE_EPOCH {
                *global = resolved.clone();
            }
        }
        Ok(())
    }

    /// The last global ARG's value of `name`.
    fn global_arg(&self, name: &str) -> Option<String> {
        self.meta_args.iter().rev().find(|(arg, _)| arg == name).and_then(|(_, value)| value.clone())
    }

    /// The epoch `value` stands for.
    fn epoch_of(&self, value: &str) -> Result<Option<i64>, DockerfileError> {
        if let Ok(seconds) = value.parse::<i64>() {
            return Ok(Some(seconds));
        }
        if value == MAIN_CONTEXT {
            return self.remote_context_time(MAIN_CONTEXT, value);
        }
        let key = named_context_key(value);
        if self.options.named_contexts.contains_key(&key) {
            return self.remote_context_time(&key, value);
        }
        if let Some(index) =
            self.stages.iter().position(|stage| stage.name.as_deref().is_some_and(|n| n.eq_ignore_ascii_case(value)))
        {
            let source = self.epoch_stage_source(index)?;
            let from = &self.stages[index].from.node;
            return self.images.source_time(&source).map_err(|error| self.source_time_error(from, value, error));
        }
        Err(DockerfileError::whole_file(ErrorKind::Instruction, format!("invalid SOURCE_DATE_EPOCH: {value}")))
    }

    /// The time of the context `key` of [`super::LowerOptions::remote_contexts`]; a local
    /// directory or an image has none.
    fn remote_context_time(&self, key: &str, value: &str) -> Result<Option<i64>, DockerfileError> {
        let Some(source) = self.options.remote_contexts.get(key).and_then(|url| RemoteSource::of_url(url)) else {
            return Ok(None);
        };
        self.images.source_time(&source).map_err(|error| {
            let mut failed = DockerfileError::whole_file(
                ErrorKind::Instruction,
                format!("resolving SOURCE_DATE_EPOCH={value}: {error}"),
            );
            if error.environment {
                failed.kind = ErrorKind::Io;
            }
            failed
        })
    }

    fn source_time_error(&self, from: &crate::parser::Node, value: &str, error: ResolveError) -> DockerfileError {
        let mut failed =
            error_at_node(self.source, from, format!("resolving SOURCE_DATE_EPOCH source stage {value}: {error}"));
        if error.environment {
            failed.kind = ErrorKind::Io;
        }
        failed
    }

    /// The remote source of the stage SOURCE_DATE_EPOCH names, which must be `FROM scratch`
    /// with ARGs and exactly one remote `ADD` (BuildKit's `sourceDateEpochStageSource`). Its
    /// words expand against the global ARGs less SOURCE_DATE_EPOCH, then its own ARGs.
    fn epoch_stage_source(&self, index: usize) -> Result<RemoteSource, DockerfileError> {
        let stage = &self.stages[index];
        let at_stage = |message: &str| error_at_node(self.source, &stage.from.node, message);
        let mut args: Vec<(String, Option<String>)> = self.builtin_args(&self.target_platform.clone());
        args.extend(self.meta_args.iter().filter(|(name, _)| name != SOURCE_DATE_EPOCH).cloned());
        let Command::From { image, .. } = &stage.from.command else {
            return Err(at_stage("SOURCE_DATE_EPOCH stage must use FROM scratch"));
        };
        if self.expand_in(&args, image, &stage.from)? != "scratch" {
            return Err(at_stage("SOURCE_DATE_EPOCH stage must use FROM scratch"));
        }
        let mut source = None;
        for instruction in &stage.instructions {
            match &instruction.command {
                Command::Arg(declared) => {
                    for (name, default) in declared {
                        let value = match (self.build_args.get(name), default) {
                            (Some(value), _) => Some(value.clone()),
                            (None, Some(default)) => Some(self.expand_in(&args, default, instruction)?),
                            (None, None) => continue,
                        };
                        args.push((name.clone(), value));
                    }
                }
                Command::Copy(add @ CopyCommand { is_add: true, .. }) => {
                    if source.is_some() {
                        return Err(at_stage("SOURCE_DATE_EPOCH stage must contain exactly one remote ADD"));
                    }
                    source = Some(self.epoch_add_source(add, &args, instruction, &at_stage)?);
                }
                _ => {
                    return Err(at_stage(&format!(
                        "SOURCE_DATE_EPOCH stage does not meet source-only requirements: unsupported {} instruction",
                        instruction.node.keyword.to_lowercase()
                    )));
                }
            }
        }
        source.ok_or_else(|| at_stage("SOURCE_DATE_EPOCH stage must contain exactly one remote ADD"))
    }

    /// The remote source of the SOURCE_DATE_EPOCH stage's `ADD`: one http(s) or git source.
    fn epoch_add_source(
        &self,
        add: &CopyCommand,
        args: &[(String, Option<String>)],
        instruction: &Instruction,
        at_stage: &dyn Fn(&str) -> DockerfileError,
    ) -> Result<RemoteSource, DockerfileError> {
        let [source] = add.sources.as_slice() else {
            return Err(at_stage("SOURCE_DATE_EPOCH stage must contain exactly one remote ADD source"));
        };
        if !add.heredocs.is_empty() {
            return Err(at_stage("SOURCE_DATE_EPOCH stage must contain exactly one remote ADD source"));
        }
        let url = self.expand_in(args, source, instruction)?;
        match RemoteSource::of_url(&url) {
            Some(RemoteSource::Http { url, .. }) => {
                let checksum = add.checksum.as_deref().map(|c| self.expand_in(args, c, instruction)).transpose()?;
                Ok(RemoteSource::Http { url, checksum })
            }
            Some(git) => Ok(git),
            None => Err(at_stage("SOURCE_DATE_EPOCH stage source must be a single HTTP(S) or Git ADD")),
        }
    }

    fn expand_in(
        &self,
        args: &[(String, Option<String>)],
        word: &str,
        instruction: &Instruction,
    ) -> Result<String, DockerfileError> {
        let scope = vars::Scope { arg_env: &[], env: &[], args, deferred_base: false };
        self.expand_with(&scope, word, &instruction.node)
    }
}
