//! `graphbuild server start|stop|status` as the client side renders them; finding, starting
//! and talking to the server is `gb_client`'s.

use std::path::Path;
use std::time::{Duration, Instant};

use gb_client::protocol::{Reply, Request, Status};
use gb_client::{ServerFlags, ServerProgram, connect_or_start, request};

use crate::exit::{self, Failure};

/// This binary as the program that serves roots.
pub fn program() -> Result<ServerProgram, Failure> {
    Ok(ServerProgram::this_process()?)
}

/// `graphbuild server start`: starts the root's server in the background unless one runs.
pub fn start(root: &Path, flags: &ServerFlags) -> Result<(), Failure> {
    let program = program()?;
    if let Some(Reply::Status(status)) = request(root, &program, Request::Status)? {
        crate::stdout::outln!("graphbuild server already running for {} (pid {})", root.display(), status.pid);
        return Ok(());
    }
    drop(connect_or_start(root, &program, flags)?);
    match request(root, &program, Request::Status)? {
        Some(Reply::Status(status)) => {
            crate::stdout::outln!("graphbuild server started for {} (pid {})", root.display(), status.pid);
            Ok(())
        }
        _ => Err(gb_client::ClientError::NoAnswer { root: root.to_owned() }.into()),
    }
}

/// `graphbuild server stop`: stops the root's server, cancelling running commands, and waits
/// for it to exit.
pub fn stop(root: &Path) -> Result<(), Failure> {
    let program = program()?;
    let Some(Reply::Status(status)) = request(root, &program, Request::Status)? else {
        crate::stdout::outln!("no graphbuild server is running for {}", root.display());
        return Ok(());
    };
    request(root, &program, Request::Stop { cancel: true })?;
    // Gone once it is dead, reaped or not (a zombie's parent may take its time).
    let deadline = Instant::now() + Duration::from_secs(60);
    while gb_engine::process_runs(u64::from(status.pid)) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    crate::stdout::outln!("graphbuild server for {} stopped (pid {})", root.display(), status.pid);
    Ok(())
}

/// `graphbuild server status`: what the root's server is doing; exit 1 when none runs.
pub fn status(root: &Path, json: bool) -> Result<(), Failure> {
    let program = program()?;
    let Some(Reply::Status(status)) = request(root, &program, Request::Status)? else {
        if json {
            crate::stdout::outln!("null");
        } else {
            crate::stdout::outln!("no graphbuild server is running for {}", root.display());
        }
        return Err(Failure::Exited(exit::USER_INPUT));
    };
    if json {
        crate::stdout::outln!("{}", serde_json::to_string(&status).unwrap_or_default());
    } else {
        print_status(&status);
    }
    Ok(())
}

fn print_status(status: &Status) {
    crate::stdout::outln!("graphbuild server running for {}", status.root.display());
    crate::stdout::outln!("  pid:             {}", status.pid);
    crate::stdout::outln!("  build:           {}", status.build);
    crate::stdout::outln!("  uptime:          {}s", status.uptime_s);
    crate::stdout::outln!("  commands:        {} running", status.commands);
    crate::stdout::outln!("  containers:      {} running", status.containers);
    crate::stdout::outln!("  max parallelism: {}", status.max_parallelism);
    crate::stdout::outln!("  idle timeout:    {}s", status.idle_timeout_s);
}
