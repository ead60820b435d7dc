//! `graphbuild`, the program users run: hands a command line to its state root's server, and
//! leaves everything else to `graphbuild-engine`, the whole program, installed beside it.
//!
//! It links no engine code (only `gb-client`), so a command reaches the server about 1 ms after
//! it starts; the engine binary, with RocksDB and the C++ runtime in it, took 4–5 ms just to
//! start (dynamic loader, static initializers, page faults). What it serves it recognises from
//! the shape of the command line alone; anything it is not sure of (`--no-server`, `--help`, a
//! flag it does not know before the subcommand, a `server` or `debug` command, arguments that
//! are not UTF-8) runs the engine binary with the same arguments, which parses them fully and
//! behaves exactly as if run directly.

use std::ffi::OsString;
use std::os::unix::process::CommandExt as _;
use std::path::PathBuf;

use gb_client::ServerProgram;

/// The engine binary's name; it is looked for beside this one.
const ENGINE: &str = "graphbuild-engine";

/// Subcommands the server runs (every one but `server`, `debug`, `logout` and `help`, which
/// the engine binary runs in-process).
const SERVED: [&str; 17] = [
    "build", "solve", "import", "images", "image", "history", "tag", "rmi", "df", "prune", "save", "load", "run",
    "pull", "push", "login", "lower",
];

fn main() {
    let args: Vec<OsString> = std::env::args_os().collect();
    let engine = engine_path();
    let code = match served(&args, std::env::var_os("GRAPHBUILD_SERVER"), std::env::var_os("GRAPHBUILD_ROOT")) {
        Some(request) => remotely(request, &engine),
        None => run_engine(&engine, &args),
    };
    std::process::exit(code);
}

/// A command line the server runs.
#[derive(Debug, PartialEq, Eq)]
struct Served {
    /// `--root` or `$GRAPHBUILD_ROOT`, if either names one.
    root: Option<PathBuf>,
    /// The arguments after the program name.
    argv: Vec<String>,
}

/// The command line as the server would run it, or `None` when the engine binary must have it.
fn served(args: &[OsString], server_env: Option<OsString>, root_env: Option<OsString>) -> Option<Served> {
    if server_env.is_some_and(|v| v == "0") {
        return None;
    }
    let argv: Vec<String> = args.iter().skip(1).map(|a| a.clone().into_string().ok()).collect::<Option<_>>()?;
    // clap takes an empty $GRAPHBUILD_ROOT as a root named ""; the engine binary says so.
    let mut root = match root_env {
        Some(value) if value.is_empty() => return None,
        Some(value) => Some(PathBuf::from(value)),
        None => None,
    };
    let mut at = 0;
    let subcommand = loop {
        let arg = argv.get(at)?.as_str();
        match arg {
            "--root" => {
                root = Some(PathBuf::from(argv.get(at + 1)?));
                at += 2;
            }
            "--insecure-registry" => at += 2,
            _ if arg.starts_with("--root=") => {
                root = Some(PathBuf::from(&arg["--root=".len()..]));
                at += 1;
            }
            _ if arg.starts_with("--insecure-registry=") => at += 1,
            _ if arg.starts_with('-') => return None,
            _ => break arg,
        }
    };
    if !SERVED.contains(&subcommand) {
        return None;
    }
    // Global flags may follow the subcommand too; those that change where or whether the
    // command runs are the engine binary's to read, as is help.
    let decides =
        |arg: &String| matches!(arg.as_str(), "--root" | "--no-server" | "-h" | "--help") || arg.starts_with("--root=");
    if argv[at + 1..].iter().any(decides) {
        return None;
    }
    Some(Served { root: root.filter(|path| !path.as_os_str().is_empty()), argv })
}

/// Runs the command through the root's server and returns its exit status.
fn remotely(request: Served, engine: &std::path::Path) -> i32 {
    let program = ServerProgram::at(engine.to_owned());
    let result = gb_client::root_path(request.root.as_deref())
        .and_then(|root| gb_client::run_remotely(&root, &program, request.argv));
    match result {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error}");
            // Every client failure is the environment's (see `exit.rs` in the engine binary).
            3
        }
    }
}

/// Replaces this process with the engine binary, same arguments; returns only if it cannot.
fn run_engine(engine: &std::path::Path, args: &[OsString]) -> i32 {
    let mut command = std::process::Command::new(engine);
    if let Some(arg0) = args.first() {
        command.arg0(arg0);
    }
    let error = command.args(args.iter().skip(1)).exec();
    eprintln!("error: running {}: {error} (it is installed beside graphbuild)", engine.display());
    3
}

/// `graphbuild-engine` beside this binary.
fn engine_path() -> PathBuf {
    let here = std::env::current_exe().unwrap_or_else(|_| PathBuf::from("graphbuild"));
    here.with_file_name(ENGINE)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(line: &str) -> Vec<OsString> {
        std::iter::once("graphbuild").chain(line.split_whitespace()).map(OsString::from).collect()
    }

    fn served_root(line: &str) -> Option<Option<PathBuf>> {
        served(&args(line), None, None).map(|served| served.root)
    }

    #[test]
    fn served_commands_go_to_the_server_with_their_root() {
        assert_eq!(served_root("build ."), Some(None));
        assert_eq!(served_root("--root /r build -t x ."), Some(Some(PathBuf::from("/r"))));
        assert_eq!(served_root("--root=/r images"), Some(Some(PathBuf::from("/r"))));
        assert_eq!(served_root("--insecure-registry h:5000 push h:5000/x"), Some(None));
        assert_eq!(served_root("build --insecure-registry h:5000 ."), Some(None));
        let served = served(&args("images -q"), None, Some(OsString::from("/env"))).expect("served");
        assert_eq!(served.root, Some(PathBuf::from("/env")));
        assert_eq!(served.argv, ["images", "-q"]);
    }

    #[test]
    fn anything_unsure_goes_to_the_engine_binary() {
        for line in [
            "",
            "--help",
            "--version",
            "help",
            "server status",
            "debug parse Dockerfile",
            "logout h",
            "--no-server build .",
            "build --no-server .",
            "build --root /r .",
            "images --root=/r",
            "build --help",
            "images -h",
            "--bogus build .",
            "--root",
            "bogus",
        ] {
            assert_eq!(served_root(line), None, "{line:?}");
        }
        assert_eq!(served(&args("build ."), Some(OsString::from("0")), None), None);
        assert_eq!(served(&args("build ."), None, Some(OsString::new())), None);
        let not_utf8 = vec![OsString::from("graphbuild"), OsString::from("build"), {
            use std::os::unix::ffi::OsStringExt as _;
            OsString::from_vec(vec![0xff])
        }];
        assert_eq!(served(&not_utf8, None, None), None);
    }
}
