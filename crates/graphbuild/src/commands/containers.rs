//! The container commands besides `run`: `ps`, `logs`, `stop`, `kill`, `start`, `restart`,
//! `rm`, `exec`, `inspect`, `diff`, `export`, `commit`, `container prune`. Output follows
//! docker's, so people and scripts read it the same way.

use std::io::Write as _;
use std::sync::Arc;
use std::time::Duration;

use gb_containers::{ContainerRecord, Status};
use gb_store::StateRoot;
use tokio_util::sync::CancellationToken;

use crate::cli::{
    CommitArgs, ContainerArgs, ContainerInspectArgs, ContainerPruneArgs, ExecArgs, ExportArgs, InspectKind, KillArgs,
    LogsArgs, PortArgs, PsArgs, RmArgs, StartArgs, StopArgs,
};
use crate::commands::images::{parse_format, print_rows};
use crate::exit::Failure;
use crate::stdout::outln;
use crate::template::{Columns, Format, Template};

/// Runs an async container operation on this thread.
fn block_on<T>(future: impl Future<Output = T>) -> Result<T, Failure> {
    let tokio = crate::session::local_runtime().map_err(Failure::os("starting the async runtime"))?;
    Ok(tokio.block_on(future))
}

/// Applies `each` to every named container, as docker: each failure is reported, the command
/// fails (with the last failure) when any did.
fn for_each(
    root: &StateRoot,
    names: &[String],
    mut each: impl FnMut(&ContainerRecord) -> Result<(), Failure>,
) -> Result<(), Failure> {
    let mut failed = None;
    for name in names {
        let result = gb_containers::find(root, name).map_err(Failure::from).and_then(|record| each(&record));
        match result {
            Ok(()) => outln!("{name}"),
            Err(failure) => {
                if let Some(earlier) = failed.replace(failure) {
                    crate::report::print_failure(&earlier);
                }
            }
        }
    }
    failed.map_or(Ok(()), Err)
}

/// docker's human durations (go-units `HumanDuration`): "Less than a second", "3 seconds",
/// "About a minute", "5 minutes", "About an hour", "3 hours", "4 days", "2 weeks", "3 months".
pub(crate) fn human_duration(seconds: u64) -> String {
    let minutes = seconds / 60;
    let hours = minutes / 60;
    match seconds {
        0 => "Less than a second".to_owned(),
        1 => "1 second".to_owned(),
        2..60 => format!("{seconds} seconds"),
        _ if minutes == 1 => "About a minute".to_owned(),
        _ if minutes < 60 => format!("{minutes} minutes"),
        _ if hours == 1 => "About an hour".to_owned(),
        _ if hours < 48 => format!("{hours} hours"),
        _ if hours < 24 * 14 => format!("{} days", hours / 24),
        _ if hours < 24 * 90 => format!("{} weeks", hours / 24 / 7),
        _ if hours < 24 * 730 => format!("{} months", hours / 24 / 30),
        _ => format!("{} years", hours / 24 / 365),
    }
}

fn now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// docker's STATUS column: "Up 5 seconds", "Exited (0) 3 minutes ago", "Created".
fn status_text(record: &ContainerRecord) -> String {
    match (record.is_running(), record.state.status) {
        (true, _) => format!("Up {}", human_duration(now().saturating_sub(record.state.started_unix.unwrap_or(now())))),
        (false, Status::Created) => "Created".to_owned(),
        (false, _) => format!(
            "Exited ({}) {} ago",
            record.state.exit_code.unwrap_or_default(),
            human_duration(now().saturating_sub(record.state.finished_unix.unwrap_or(now())))
        ),
    }
}

/// The state docker's `ps --filter status=` and `.State` name.
fn state_text(record: &ContainerRecord) -> &'static str {
    if record.is_running() {
        "running"
    } else if record.state.status == Status::Created {
        "created"
    } else {
        "exited"
    }
}

/// The container's command as `ps` shows it: quoted, cut to 20 characters unless `full`.
fn command_text(record: &ContainerRecord, full: bool) -> String {
    let command = record.config.args.join(" ");
    if full || command.chars().count() <= 20 {
        format!("\"{command}\"")
    } else {
        format!("\"{}…\"", command.chars().take(19).collect::<String>())
    }
}

/// docker's SIZE: `12B (virtual 1.98MB)`.
fn size_text(root: &StateRoot, record: &ContainerRecord) -> String {
    let changes = gb_containers::size(root, record);
    let image: u64 = record.layers.iter().filter_map(|id| root.db.layer(id).ok().flatten()).map(|l| l.size).sum();
    let human = crate::commands::images::human_size;
    format!("{} (virtual {})", human(changes), human(changes + image))
}

/// What containers and named volumes take, for `system df`.
pub(crate) struct ContainerUsage {
    /// Containers, and those running.
    pub containers: (usize, usize),
    /// The bytes of every container's changes, and of the stopped ones' (reclaimable).
    pub container_bytes: (u64, u64),
    /// `system df -v`'s container rows.
    pub container_rows: Vec<serde_json::Value>,
    /// Named volumes, and those a container names.
    pub volumes: (usize, usize),
    /// The bytes of every named volume, and of those no container names (reclaimable).
    pub volume_bytes: (u64, u64),
    /// `system df -v`'s volume rows.
    pub volume_rows: Vec<serde_json::Value>,
}

/// What the root's containers and named volumes take, as docker's `system df` counts them.
pub(crate) fn usage(root: &StateRoot) -> Result<ContainerUsage, Failure> {
    let records = gb_containers::list(root)?;
    let human = crate::commands::images::human_size;
    let mut usage = ContainerUsage {
        containers: (records.len(), records.iter().filter(|r| r.is_running()).count()),
        container_bytes: (0, 0),
        container_rows: Vec::new(),
        volumes: (0, 0),
        volume_bytes: (0, 0),
        volume_rows: Vec::new(),
    };
    for record in &records {
        let size = gb_containers::size(root, record);
        usage.container_bytes.0 += size;
        if !record.is_running() {
            usage.container_bytes.1 += size;
        }
        let volumes =
            record.config.volumes.iter().filter(|v| matches!(v.source, gb_containers::VolumeSource::Volume(_)));
        usage.container_rows.push(serde_json::json!({
            "ID": record.id.short(), "Image": record.image, "Command": command_text(record, false),
            "LocalVolumes": volumes.count().to_string(), "Size": human(size),
            "RunningFor": format!("{} ago", human_duration(now().saturating_sub(record.created_unix))),
            "Status": status_text(record), "Names": record.name,
        }));
    }
    for volume in gb_containers::volumes(root)? {
        usage.volumes.0 += 1;
        usage.volume_bytes.0 += volume.size;
        if volume.links == 0 {
            usage.volume_bytes.1 += volume.size;
        } else {
            usage.volumes.1 += 1;
        }
        usage.volume_rows.push(serde_json::json!({
            "Name": volume.name, "Links": volume.links.to_string(), "Size": human(volume.size),
        }));
    }
    Ok(usage)
}

/// docker's IMAGE column: the name the container was made from while it still names that
/// image, else the image's short id.
fn image_text(root: &StateRoot, record: &ContainerRecord) -> String {
    match gb_store::find_image(root, &record.image) {
        Ok((_, image)) if image.config_digest == record.image_id => record.image.clone(),
        _ => record.image_id.hex()[..12].to_owned(),
    }
}

/// One container as `ps --format` sees it (docker's field names).
fn ps_row(root: &StateRoot, record: &ContainerRecord, full: bool, size: bool) -> serde_json::Value {
    let labels: Vec<String> = record.config.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
    serde_json::json!({
        "ID": if full { record.id.as_str() } else { record.id.short() },
        "Image": image_text(root, record),
        "Command": command_text(record, full),
        "CreatedAt": crate::commands::images::docker_time(record.created_unix),
        "RunningFor": format!("{} ago", human_duration(now().saturating_sub(record.created_unix))),
        "Status": status_text(record),
        "State": state_text(record),
        "Names": record.name,
        // As docker's: a container that does not run publishes nothing.
        "Ports": record.published().iter().map(ToString::to_string).collect::<Vec<_>>().join(", "),
        "Labels": labels.join(","),
        "Mounts": record.config.volumes.iter().map(|v| v.target.clone()).collect::<Vec<_>>().join(","),
        "Networks": network_name(record.config.network),
        "Size": if size { size_text(root, record) } else { String::new() },
    })
}

/// Whether a container passes one `--filter KEY=VALUE`.
fn passes(root: &StateRoot, record: &ContainerRecord, filter: &str) -> Result<bool, Failure> {
    let (key, value) = filter
        .split_once('=')
        .ok_or_else(|| Failure::Input(format!("bad format of filter (expected name=value): {filter}")))?;
    Ok(match key {
        "status" => state_text(record) == value,
        "name" => record.name.contains(value),
        "id" => record.id.as_str().starts_with(value),
        "exited" => {
            !record.is_running()
                && record.state.status == Status::Exited
                && record.state.exit_code.map(|c| c.to_string()).as_deref() == Some(value)
        }
        "ancestor" => {
            record.image == value
                || gb_store::find_image(root, value).is_ok_and(|(_, image)| image.config_digest == record.image_id)
        }
        "label" => match value.split_once('=') {
            Some((k, v)) => record.config.labels.get(k).is_some_and(|x| x == v),
            None => record.config.labels.contains_key(value),
        },
        other => return Err(Failure::Input(format!("invalid filter '{other}'"))),
    })
}

/// `graphbuild ps`.
pub fn ps(args: PsArgs, root: &StateRoot) -> Result<(), Failure> {
    let mut records = Vec::new();
    // As docker's: a status or exited filter looks at every container, other filters at the
    // running ones unless -a; filters of one key are alternatives (labels must all match), of
    // different keys all apply.
    let mut by_key: std::collections::BTreeMap<&str, Vec<&str>> = std::collections::BTreeMap::new();
    for filter in &args.filters {
        let key = filter.split_once('=').map_or(filter.as_str(), |(key, _)| key);
        by_key.entry(key).or_default().push(filter);
    }
    let every = args.all
        || args.latest
        || args.last.is_some()
        || by_key.contains_key("status")
        || by_key.contains_key("exited");
    for record in gb_containers::list(root)? {
        let mut keep = every || record.is_running();
        for (key, filters) in &by_key {
            let mut results = Vec::new();
            for filter in filters {
                results.push(passes(root, &record, filter)?);
            }
            let passed = if *key == "label" { results.iter().all(|r| *r) } else { results.iter().any(|r| *r) };
            keep = keep && passed;
        }
        if keep {
            records.push(record);
        }
    }
    if args.latest {
        records.truncate(1);
    }
    if let Some(last) = args.last {
        records.truncate(last);
    }
    if args.quiet {
        for record in &records {
            outln!("{}", if args.no_trunc { record.id.as_str() } else { record.id.short() });
        }
        return Ok(());
    }
    let rows: Vec<serde_json::Value> = records.iter().map(|r| ps_row(root, r, args.no_trunc, args.size)).collect();
    let mut format = parse_format(args.format.as_deref().unwrap_or("table"))?;
    if args.size && format.is_default_table() {
        let table = Template::parse(&format!("{DEFAULT_PS_TABLE}\t{{{{.Size}}}}"))
            .map_err(|error| Failure::Input(error.to_string()))?;
        format = Format::Table(Some(table));
    }
    print_rows(&format, &rows, &Columns { default_table: DEFAULT_PS_TABLE, headers: &PS_COLUMNS })
}

/// `ps`'s default table.
const DEFAULT_PS_TABLE: &str =
    "{{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}";

/// `ps`'s column headers by field.
const PS_COLUMNS: [(&str, &str); 13] = [
    ("ID", "CONTAINER ID"),
    ("Image", "IMAGE"),
    ("Command", "COMMAND"),
    ("CreatedAt", "CREATED AT"),
    ("RunningFor", "CREATED"),
    ("Status", "STATUS"),
    ("State", "STATE"),
    ("Names", "NAMES"),
    ("Ports", "PORTS"),
    ("Labels", "LABELS"),
    ("Mounts", "MOUNTS"),
    ("Networks", "NETWORKS"),
    ("Size", "SIZE"),
];

/// `graphbuild logs`.
pub fn logs(args: LogsArgs, root: &StateRoot) -> Result<(), Failure> {
    let record = gb_containers::find(root, &args.container)?;
    let path = record.dir(root).join("container.log");
    let (mut entries, mut offset) = gb_containers::read_log(&path, 0)?;
    if args.tail != "all" {
        let tail: usize = args.tail.parse().map_err(|_| Failure::Input(format!("invalid --tail {}", args.tail)))?;
        entries.drain(..entries.len().saturating_sub(tail));
    }
    print_entries(&entries, args.timestamps);
    if !args.follow {
        return Ok(());
    }
    let session = crate::session::current();
    loop {
        let running = gb_containers::find(root, record.id.as_str()).is_ok_and(|r| r.is_running());
        let (entries, next) = gb_containers::read_log(&path, offset)?;
        offset = next;
        print_entries(&entries, args.timestamps);
        // Ctrl-C ends a follow (in the server, the client's forwarded signal), as docker's.
        if session.is_interrupted() {
            return Err(Failure::Exited(130));
        }
        if !running || session.stdout_failure().is_some() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn print_entries(entries: &[gb_containers::LogEntry], timestamps: bool) {
    for entry in entries {
        let text = if timestamps { format!("{} {}", entry.time, entry.log) } else { entry.log.clone() };
        crate::commands::run::print_output(entry.stream, text.as_bytes());
    }
}

/// `graphbuild stop`.
pub fn stop(args: StopArgs, root: &StateRoot) -> Result<(), Failure> {
    for_each(root, &args.containers, |record| {
        block_on(gb_containers::stop(root, record, Duration::from_secs(args.time)))?.map_err(Failure::from)
    })
}

/// `graphbuild kill`.
pub fn kill(args: KillArgs, root: &StateRoot) -> Result<(), Failure> {
    let signal = args.signal.trim_start_matches("SIG").to_owned();
    for_each(root, &args.containers, |record| {
        block_on(gb_containers::kill(root, record, &signal))?.map_err(Failure::from)
    })
}

/// `graphbuild start`: detached, or with `-a` attached (exiting with its status).
pub fn start(args: StartArgs, root: &Arc<StateRoot>) -> Result<(), Failure> {
    if args.attach {
        let [name] = args.containers.as_slice() else {
            return Err(Failure::Input("you cannot start and attach multiple containers at once".to_owned()));
        };
        let record = gb_containers::find(root, name)?;
        let code = crate::commands::run::run_attached(root, &record, args.interactive, record.config.tty)?;
        return if code == 0 { Ok(()) } else { Err(Failure::Exited(code)) };
    }
    needs_server("start")?;
    for_each(root, &args.containers, |record| {
        if record.is_running() {
            return Ok(());
        }
        crate::commands::run::start_detached(root, record)
    })
}

/// `graphbuild restart`: stop, then start detached.
pub fn restart(args: StopArgs, root: &Arc<StateRoot>) -> Result<(), Failure> {
    needs_server("restart")?;
    for_each(root, &args.containers, |record| {
        block_on(gb_containers::stop(root, record, Duration::from_secs(args.time)))??;
        crate::commands::run::start_detached(root, record)
    })
}

/// Containers that run in the background need the server to supervise them.
fn needs_server(command: &str) -> Result<(), Failure> {
    if crate::session::current().is_remote() {
        Ok(())
    } else {
        Err(Failure::Input(format!(
            "{command} needs the root's server, which supervises containers (drop --no-server)"
        )))
    }
}

/// `graphbuild rm`.
pub fn rm(args: RmArgs, root: &StateRoot) -> Result<(), Failure> {
    for_each(root, &args.containers, |record| {
        block_on(gb_containers::remove(root, record, args.force))?.map_err(Failure::from)
    })
}

/// `graphbuild container prune`: removes every container that does not run.
pub fn prune(args: ContainerPruneArgs, root: &StateRoot) -> Result<(), Failure> {
    if !args.force && !crate::commands::images::confirm("WARNING! This will remove all stopped containers.")? {
        return Ok(());
    }
    // Each stopped container goes if it can; one that cannot is reported and the rest go on.
    let mut removed = Vec::new();
    let mut reclaimed = 0;
    let mut failed = None;
    for record in gb_containers::list(root)? {
        if record.is_running() {
            continue;
        }
        let size = gb_containers::size(root, &record);
        match block_on(gb_containers::remove(root, &record, false)).and_then(|r| r.map_err(Failure::from)) {
            Ok(()) => {
                removed.push(record.id.to_string());
                reclaimed += size;
            }
            Err(failure) => {
                crate::session::errln!("Error response from daemon: {failure}");
                failed = Some(failure);
            }
        }
    }
    if !removed.is_empty() {
        outln!("Deleted Containers:");
        for id in &removed {
            outln!("{id}");
        }
        outln!();
    }
    outln!("Total reclaimed space: {}", crate::commands::images::human_size(reclaimed));
    failed.map_or(Ok(()), |_| Err(Failure::Exited(1)))
}

/// Before `rmi NAME` deletes an image (its last name, or by id): containers made from it forbid
/// that without `-f`. With `-f`, stopped ones are removed with it, and running ones keep its
/// layers (as docker, which untags an image a running container uses).
pub fn release_image(root: &StateRoot, name: &str, force: bool) -> Result<(), Failure> {
    let (found_name, image) = crate::commands::images::find(root, name)?;
    let names = gb_store::images(root)?.into_iter().filter(|(_, r)| r.config_digest == image.config_digest).count();
    let by_id = gb_cache::ImageName::parse(name).ok().as_ref() != Some(&found_name);
    if !by_id && names > 1 {
        return Ok(());
    }
    let users: Vec<ContainerRecord> =
        gb_containers::list(root)?.into_iter().filter(|c| c.image_id == image.config_digest).collect();
    let short = &image.config_digest.hex()[..12];
    match (users.first(), force) {
        (None, _) => Ok(()),
        (Some(user), false) => Err(Failure::Input(format!(
            "conflict: unable to remove repository reference \"{name}\" (must force) - container {} is using its referenced image {short}",
            user.id.short()
        ))),
        (Some(_), true) => {
            for user in users.iter().filter(|c| !c.is_running()) {
                block_on(gb_containers::remove(root, user, false))??;
            }
            Ok(())
        }
    }
}

/// `graphbuild exec`: exits with the command's status.
pub fn exec(args: ExecArgs, root: &StateRoot) -> Result<(), Failure> {
    let record = gb_containers::find(root, &args.container)?;
    let session = crate::session::current();
    let (stdin, _held_open) = crate::terminal::process_input(&session, args.interactive, args.tty)?;
    let terminal = if args.tty { Some(crate::terminal::size(&session)) } else { None };
    let options = gb_containers::ExecOptions { args: args.args, env: args.env, workdir: args.workdir, user: args.user };
    let cancel = CancellationToken::new();
    let tokio = crate::session::local_runtime().map_err(Failure::os("starting the async runtime"))?;
    let interrupted = {
        let _context = tokio.enter();
        session.interrupted().map_err(Failure::os("listening for signals"))?
    };
    let code = tokio.block_on(async {
        let cancelling = cancel.clone();
        let signals = tokio::spawn(async move {
            interrupted.await;
            cancelling.cancel();
        });
        let io = gb_containers::RunIo { stdin, terminal };
        let code = gb_containers::exec(root, &record, &options, io, &crate::commands::run::print_output, cancel).await;
        signals.abort();
        code
    });
    let _ = session.stdout().flush();
    let code = match code {
        Ok(code) => code,
        // runc has said why on the process's standard error: once is enough.
        Err(gb_containers::ContainerError::CannotStart { code, .. }) => code,
        Err(error) => return Err(error.into()),
    };
    if code == 0 { Ok(()) } else { Err(Failure::Exited(code)) }
}

/// docker's `inspect` of a container.
fn inspect_container(root: &StateRoot, record: &ContainerRecord) -> serde_json::Value {
    let time = |unix: Option<u64>| unix.map_or_else(|| "0001-01-01T00:00:00Z".to_owned(), rfc3339);
    serde_json::json!({
        "Id": record.id.as_str(),
        "Created": rfc3339(record.created_unix),
        "Path": record.config.args.first(),
        "Args": record.config.args.get(1..).unwrap_or_default(),
        "State": {
            "Status": state_text(record),
            "Running": record.is_running(),
            "Paused": false,
            "Restarting": false,
            "OOMKilled": false,
            "Dead": false,
            "Pid": 0,
            "ExitCode": record.state.exit_code.unwrap_or_default(),
            "Error": record.state.error,
            "StartedAt": time(record.state.started_unix),
            "FinishedAt": time(record.state.finished_unix),
        },
        "Image": record.image_id.to_string(),
        "LogPath": record.dir(root).join("container.log"),
        "Name": format!("/{}", record.name),
        "HostConfig": {
            "AutoRemove": record.config.auto_remove,
            "PortBindings": port_bindings(&record.config.ports),
            "NetworkMode": network_name(record.config.network),
            "Binds": record.config.volumes.iter().map(|v| {
                let source = match &v.source {
                    gb_containers::VolumeSource::Bind(path) => path.display().to_string(),
                    gb_containers::VolumeSource::Volume(name) => name.clone(),
                };
                format!("{source}:{}{}", v.target, if v.readonly { ":ro" } else { "" })
            }).collect::<Vec<_>>(),
        },
        "Config": {
            "Hostname": record.config.hostname,
            "User": record.config.user,
            "Tty": record.config.tty,
            "OpenStdin": record.config.open_stdin,
            "Env": record.config.env,
            "Cmd": if record.config.cmd.is_empty() && record.config.entrypoint.is_empty() {
                serde_json::json!(record.config.args)
            } else if record.config.cmd.is_empty() {
                serde_json::Value::Null
            } else {
                serde_json::json!(record.config.cmd)
            },
            "Entrypoint": if record.config.entrypoint.is_empty() {
                serde_json::Value::Null
            } else {
                serde_json::json!(record.config.entrypoint)
            },
            "Image": record.image,
            "WorkingDir": record.config.cwd,
            "Labels": record.config.labels,
        },
        "Mounts": record.config.volumes.iter().map(|v| match &v.source {
            gb_containers::VolumeSource::Bind(path) => serde_json::json!({
                "Type": "bind", "Source": path, "Destination": v.target, "Mode": if v.readonly { "ro" } else { "" },
                "RW": !v.readonly, "Propagation": "rprivate",
            }),
            gb_containers::VolumeSource::Volume(name) => serde_json::json!({
                "Type": "volume", "Name": name, "Source": root.volumes_dir().join(name).join("_data"),
                "Destination": v.target, "Driver": "local", "Mode": if v.readonly { "ro" } else { "z" },
                "RW": !v.readonly, "Propagation": "",
            }),
        }).collect::<Vec<_>>(),
        "NetworkSettings": network_settings(record),
    })
}

/// docker's `NetworkSettings`: the address the container has on its own network while it
/// runs (slirp4netns gives every container the same one) and its published ports.
fn network_settings(record: &ContainerRecord) -> serde_json::Value {
    let own_network = record.config.network == gb_containers::NetworkMode::Default && record.is_running();
    let address = if own_network { gb_containers::PRIVATE_ADDRESS } else { "" };
    let gateway = if own_network { "10.0.2.2" } else { "" };
    // docker's per-network entries, which `{{range .NetworkSettings.Networks}}` scripts read.
    let network = network_name(record.config.network);
    serde_json::json!({
        "IPAddress": address,
        "Gateway": gateway,
        "Ports": port_bindings(&record.published()),
        "Networks": { network: { "IPAddress": address, "Gateway": gateway } },
    })
}

/// docker's name of a container's network (`ps`'s NETWORKS, `HostConfig.NetworkMode`, the key
/// of `NetworkSettings.Networks`): its default network is docker's `bridge`.
fn network_name(mode: gb_containers::NetworkMode) -> &'static str {
    match mode {
        gb_containers::NetworkMode::Default => "bridge",
        gb_containers::NetworkMode::Host => "host",
        gb_containers::NetworkMode::None => "none",
    }
}

/// docker's `HostConfig.PortBindings`: `{"80/tcp": [{"HostIp": "0.0.0.0", "HostPort": "8080"}]}`.
fn port_bindings(ports: &[gb_containers::PortMapping]) -> serde_json::Value {
    let mut bindings = serde_json::Map::new();
    for port in ports {
        let key = format!("{}/{}", port.container_port, port.protocol);
        // A port chosen at each start is asked for with no host port.
        let host_port = if port.host_port == 0 { String::new() } else { port.host_port.to_string() };
        let binding = serde_json::json!({ "HostIp": port.host_ip, "HostPort": host_port });
        match bindings.get_mut(&key).and_then(serde_json::Value::as_array_mut) {
            Some(list) => list.push(binding),
            None => {
                bindings.insert(key, serde_json::json!([binding]));
            }
        }
    }
    serde_json::Value::Object(bindings)
}

fn rfc3339(unix: u64) -> String {
    gb_export::rfc3339(i64::try_from(unix).unwrap_or(i64::MAX))
}

/// `graphbuild inspect` (containers, then images) and `container inspect`.
pub fn inspect(args: ContainerInspectArgs, root: &StateRoot) -> Result<(), Failure> {
    let mut found = Vec::new();
    for name in &args.names {
        let container = match args.kind {
            Some(InspectKind::Image) => None,
            _ => gb_containers::find(root, name).ok(),
        };
        match (container, args.kind) {
            (Some(record), _) => found.push(inspect_container(root, &record)),
            (None, Some(InspectKind::Container)) => {
                return Err(gb_containers::ContainerError::NoSuchContainer(name.clone()).into());
            }
            (None, _) => match gb_engine::inspect_image(root, name) {
                Ok(image) => found.push(image),
                Err(_) => return Err(Failure::Input(format!("No such object: {name}"))),
            },
        }
    }
    match &args.format {
        Some(text) => {
            let template = Template::parse(text).map_err(|error| Failure::Input(error.to_string()))?;
            print_rows(&Format::Template(template), &found, &Columns { default_table: "", headers: &[] })
        }
        None => {
            let text = serde_json::to_string_pretty(&found).map_err(Failure::os("rendering JSON"))?;
            outln!("{text}");
            Ok(())
        }
    }
}

/// `graphbuild diff`.
pub fn diff(args: ContainerArgs, root: &StateRoot) -> Result<(), Failure> {
    let record = gb_containers::find(root, &args.container)?;
    for change in gb_containers::diff(root, &record)? {
        outln!("{} {}", change.kind.letter(), change.path);
    }
    Ok(())
}

/// `graphbuild port`: a running container's published ports as docker prints them
/// (`80/tcp -> 0.0.0.0:8080`), or with `PORT[/PROTO]` the host addresses of that one.
pub fn port(args: PortArgs, root: &StateRoot) -> Result<(), Failure> {
    let record = gb_containers::find(root, &args.container)?;
    let wanted = match &args.port {
        Some(text) => {
            let (number, protocol) = text.split_once('/').unwrap_or((text, "tcp"));
            let number: u16 = number.parse().map_err(|_| Failure::Input(format!("invalid port: {text}")))?;
            Some((number, protocol.to_owned()))
        }
        None => None,
    };
    let published = record.published();
    let mut found = false;
    for mapping in &published {
        match &wanted {
            Some((number, protocol)) if mapping.container_port == *number && mapping.protocol == *protocol => {
                outln!("{}:{}", mapping.host_ip, mapping.host_port);
            }
            Some(_) => continue,
            None => {
                outln!("{}/{} -> {}:{}", mapping.container_port, mapping.protocol, mapping.host_ip, mapping.host_port)
            }
        }
        found = true;
    }
    match (&args.port, found) {
        (Some(text), false) => Err(Failure::Input(format!("No public port '{text}' published for {}", record.name))),
        _ => Ok(()),
    }
}

/// `graphbuild export`: to `-o FILE`, else to standard output (not a terminal).
pub fn export(args: ExportArgs, root: &StateRoot) -> Result<(), Failure> {
    let record = gb_containers::find(root, &args.container)?;
    match &args.output {
        Some(path) => {
            let mut file =
                std::fs::File::create(path).map_err(|e| Failure::Input(format!("{}: {e}", path.display())))?;
            gb_containers::export(root, &record, &mut file)?;
            file.sync_all().map_err(Failure::os(format!("writing {}", path.display())))
        }
        None => {
            let session = crate::session::current();
            if session.stdout_file().is_some_and(|f| std::io::IsTerminal::is_terminal(&f)) {
                return Err(Failure::Input(
                    "cowardly refusing to save to a terminal. Use the -o flag or redirect".to_owned(),
                ));
            }
            let mut out = session.stdout_stream();
            gb_containers::export(root, &record, &mut out)?;
            out.flush().map_err(Failure::os("writing standard output"))
        }
    }
}

/// `graphbuild commit`: prints the new image's id.
pub fn commit(args: CommitArgs, root: &StateRoot) -> Result<(), Failure> {
    let record = gb_containers::find(root, &args.container)?;
    let name = match &args.name {
        Some(name) => {
            let reference = gb_ir::ImageReference::parse(name).map_err(|e| Failure::Input(e.to_string()))?;
            Some(gb_cache::ImageName::of(&reference))
        }
        None => None,
    };
    let options = gb_containers::CommitOptions {
        name,
        message: args.message.unwrap_or_default(),
        author: args.author.unwrap_or_default(),
        changes: args.changes,
    };
    let image = gb_containers::commit(root, &record, &options)?;
    outln!("{}", image.config_digest);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::human_duration;

    #[test]
    fn durations_read_as_dockers() {
        assert_eq!(human_duration(0), "Less than a second");
        assert_eq!(human_duration(1), "1 second");
        assert_eq!(human_duration(42), "42 seconds");
        assert_eq!(human_duration(90), "About a minute");
        assert_eq!(human_duration(600), "10 minutes");
        assert_eq!(human_duration(3700), "About an hour");
        assert_eq!(human_duration(5 * 3600), "5 hours");
        assert_eq!(human_duration(3 * 86_400), "3 days");
    }
}
