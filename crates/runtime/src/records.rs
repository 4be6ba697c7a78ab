//! Container records on disk: one directory per container under
//! `<root>/containers/<id>/`, and a name index (`<root>/containers/by-name/`)
//! whose entries are hard-linked into place (failing if one exists), so two
//! commands can never give the same name to two containers.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use berth_store::Root;

use crate::config::ContainerConfig;
use crate::error::{Result, RuntimeError};
use crate::state::{State, now_rfc3339};

/// Paths of one container's directory.
#[derive(Debug, Clone)]
pub struct ContainerDir {
    pub path: PathBuf,
}

impl ContainerDir {
    pub fn config(&self) -> PathBuf {
        self.path.join("config.json")
    }
    pub fn state(&self) -> PathBuf {
        self.path.join("state.json")
    }
    /// Mount point of the overlay root (inside the container's mount namespace).
    pub fn rootfs(&self) -> PathBuf {
        self.path.join("rootfs")
    }
    pub fn upper(&self) -> PathBuf {
        self.path.join("upper")
    }
    pub fn work(&self) -> PathBuf {
        self.path.join("work")
    }
    /// Raw output of the payload, turned into the JSON log by the shim.
    pub fn raw(&self, stream: &str) -> PathBuf {
        self.path.join(format!("{stream}.raw"))
    }
    pub fn log(&self) -> PathBuf {
        self.path.join("container.log")
    }
    pub fn hosts(&self) -> PathBuf {
        self.path.join("hosts")
    }
    pub fn resolv_conf(&self) -> PathBuf {
        self.path.join("resolv.conf")
    }
    pub fn hostname(&self) -> PathBuf {
        self.path.join("hostname")
    }
    /// Present while a user-requested stop is in progress or done: the
    /// supervisor must not restart the container.
    pub fn stop_marker(&self) -> PathBuf {
        self.path.join("stopped-by-user")
    }
    /// Exit status of a container whose shim died, recorded by the monitor.
    pub fn orphan_exit(&self) -> PathBuf {
        self.path.join("orphan-exit.json")
    }
    /// Where the shim keeps how far it has read the raw output.
    pub fn log_offsets(&self) -> PathBuf {
        self.path.join("log-offsets.json")
    }
    /// Present while the container is frozen (`pause`).
    pub fn paused_marker(&self) -> PathBuf {
        self.path.join("paused")
    }
    pub fn secrets(&self) -> PathBuf {
        self.path.join("secrets")
    }
    /// `stdin_open`: the FIFO that is the container's stdin.
    pub fn stdin_fifo(&self) -> PathBuf {
        self.path.join("stdin.fifo")
    }

    pub fn read_config(&self) -> Result<ContainerConfig> {
        Ok(berth_store::read_json(&self.config())?)
    }
    pub fn read_state(&self) -> Result<State> {
        Ok(berth_store::read_json(&self.state())?)
    }
    pub fn write_state(&self, s: &State) -> Result<()> {
        let data = serde_json::to_vec_pretty(s)
            .map_err(|e| RuntimeError::Other(format!("{}: {e}", self.state().display())))?;
        replace(&self.state(), &data)
    }
}

/// Docker's rule for container names.
pub fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
}

/// All container records of a root.
#[derive(Debug, Clone)]
pub struct Records {
    dir: PathBuf,
}

impl Records {
    pub fn new(root: &Root) -> Records {
        Records {
            dir: root.containers(),
        }
    }

    pub fn dir(&self, id: &str) -> ContainerDir {
        ContainerDir {
            path: self.dir.join(id),
        }
    }

    fn name_entry(&self, name: &str) -> PathBuf {
        self.dir.join("by-name").join(name)
    }

    /// Reserves `name` for `id`. The entry appears whole (a file written
    /// aside, then hard-linked into place: never empty) and locked; the
    /// returned file holds that lock until the caller has written the record,
    /// so an entry whose owner has no record is either still being created
    /// (locked) or left by a creator that died or failed (unlocked: taken).
    fn claim_name(&self, name: &str, id: &str) -> Result<File> {
        if !valid_name(name) {
            return Err(RuntimeError::InvalidName(name.to_owned()));
        }
        let entry = self.name_entry(name);
        let index = entry.parent().unwrap();
        Root::ensure_dir(index)?;
        // Names start with a letter or digit, so this never is one.
        let tmp = index.join(format!(".claim-{id}-{}", std::process::id()));
        let io = |p: &Path, e: std::io::Error| RuntimeError::io(p, e);
        for _ in 0..100 {
            let mut file = File::create(&tmp).map_err(|e| io(&tmp, e))?;
            let linked = file
                .write_all(id.as_bytes())
                .and_then(|()| file.lock())
                .and_then(|()| fs::hard_link(&tmp, &entry));
            let _ = fs::remove_file(&tmp);
            match linked {
                Ok(()) => return Ok(file),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(io(&entry, e)),
            }
            if let Some(owner) = self.live_owner(&entry)? {
                return Err(RuntimeError::NameInUse {
                    name: name.to_owned(),
                    id: owner,
                });
            }
        }
        Err(RuntimeError::Other(format!(
            "{}: could not be claimed (changing under us)",
            entry.display()
        )))
    }

    /// The owner of an existing name entry, or `None` after removing the
    /// entry because nobody owns it any more (or it vanished meanwhile).
    fn live_owner(&self, entry: &Path) -> Result<Option<String>> {
        use std::os::unix::fs::MetadataExt;
        let io = |e: std::io::Error| RuntimeError::io(entry, e);
        let mut file = match File::open(entry) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io(e)),
        };
        let mut owner = String::new();
        std::io::Read::read_to_string(&mut file, &mut owner).map_err(io)?;
        match file.try_lock() {
            Ok(()) => {}
            // Its creator is at work: the name is taken.
            Err(std::fs::TryLockError::WouldBlock) => return Ok(Some(owner)),
            Err(std::fs::TryLockError::Error(e)) => return Err(io(e)),
        }
        // Locked by us: still the entry at that path (not one that
        // replaced it since we opened it)?
        let same = fs::metadata(entry)
            .is_ok_and(|m| m.ino() == file.metadata().map(|f| f.ino()).unwrap_or(0));
        if !same {
            return Ok(None);
        }
        if !owner.is_empty() && self.dir(&owner).config().exists() {
            return Ok(Some(owner));
        }
        // Left by a create that died or failed before its record was whole.
        match fs::remove_file(entry) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(io(e)),
            _ => Ok(None),
        }
    }

    /// [`berth_store::spread_subdirs`] on the containers directory, once
    /// per process and root (the flag stays; checking it again on every
    /// create would cost an open and an ioctl each).
    fn spread_once(&self) {
        static DONE: std::sync::Mutex<Vec<PathBuf>> = std::sync::Mutex::new(Vec::new());
        let mut done = DONE.lock().unwrap_or_else(|e| e.into_inner());
        if !done.contains(&self.dir) {
            berth_store::spread_subdirs(&self.dir);
            done.push(self.dir.clone());
        }
    }

    fn release_name(&self, name: &str, id: &str) {
        let entry = self.name_entry(name);
        if fs::read_to_string(&entry).is_ok_and(|owner| owner == id) {
            let _ = fs::remove_file(entry);
        }
    }

    /// Writes a new record: claims the name, creates the directory, the
    /// overlay upper/work dirs, `config.json` and a `created` state.
    pub fn create(&self, mut config: ContainerConfig) -> Result<ContainerConfig> {
        if config.id.is_empty() {
            config.id = berth_store::new_id();
        }
        // Locked until the record is written (dropped at the end).
        let _claim = self.claim_name(&config.name, &config.id)?;
        self.spread_once();
        let d = self.dir(&config.id);
        let made = (|| -> Result<()> {
            for p in [d.upper(), d.work(), d.rootfs()] {
                Root::ensure_dir(&p)?;
            }
            berth_store::write_json(&d.config(), &config)?;
            d.write_state(&State {
                created_at: now_rfc3339(),
                ..Default::default()
            })
        })();
        if let Err(e) = made {
            let _ = fs::remove_dir_all(&d.path);
            self.release_name(&config.name, &config.id);
            return Err(e);
        }
        Ok(config)
    }

    /// Finds a container by full id, name or unique id prefix.
    pub fn resolve(&self, key: &str) -> Result<Option<String>> {
        if key.len() == 64 && self.dir(key).config().exists() {
            return Ok(Some(key.to_owned()));
        }
        if let Ok(id) = fs::read_to_string(self.name_entry(key.trim_start_matches('/')))
            && self.dir(&id).config().exists()
        {
            return Ok(Some(id));
        }
        if key.is_empty() || !key.chars().all(|c| c.is_ascii_hexdigit()) {
            return Ok(None);
        }
        let matches: Vec<String> = self
            .ids()?
            .into_iter()
            .filter(|id| id.starts_with(key))
            .collect();
        match matches.len() {
            1 => Ok(matches.into_iter().next()),
            0 => Ok(None),
            _ => Err(RuntimeError::Other(format!(
                "multiple containers found with provided prefix: {key}"
            ))),
        }
    }

    /// Like [`resolve`](Self::resolve), "No such container" when absent.
    pub fn get(&self, key: &str) -> Result<String> {
        self.resolve(key)?
            .ok_or_else(|| RuntimeError::NoSuchContainer(key.to_owned()))
    }

    /// Ids of every container with a config.
    pub fn ids(&self) -> Result<Vec<String>> {
        let rd = match fs::read_dir(&self.dir) {
            Ok(rd) => rd,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(RuntimeError::io(&self.dir, e)),
        };
        Ok(rd
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.len() == 64 && self.dir(n).config().exists())
            .collect())
    }

    pub fn rename(&self, id: &str, new_name: &str) -> Result<()> {
        let d = self.dir(id);
        let mut config = d.read_config()?;
        if config.name == new_name {
            return Ok(());
        }
        let _claim = self.claim_name(new_name, id)?;
        let old = std::mem::replace(&mut config.name, new_name.to_owned());
        if let Err(e) = berth_store::write_json(&d.config(), &config) {
            self.release_name(new_name, id);
            return Err(e.into());
        }
        self.release_name(&old, id);
        Ok(())
    }

    /// Deletes the record (the caller has stopped the container and unmounted
    /// everything first).
    pub fn delete(&self, id: &str) -> Result<()> {
        let d = self.dir(id);
        let name = d.read_config().map(|c| c.name).ok();
        // Moved out of the way at once and deleted later (`collect_trash`):
        // freeing a container's blocks takes milliseconds per directory on
        // a file system mounted with `discard`, and `run --rm` waits for rm.
        let trash = self.trash();
        let gone = Root::ensure_dir(&trash).is_ok()
            && fs::rename(
                &d.path,
                trash.join(format!("{id}-{}", &berth_store::new_id()[..8])),
            )
            .is_ok();
        if !gone {
            // Dead until the record is gone: a removal that fails half-way
            // leaves a container `ls -a` shows and `rm -f` can finish.
            let mut dead = d.read_state()?;
            dead.status = crate::state::Status::Dead;
            dead.shim = None;
            d.write_state(&dead)?;
            // The record files go last, so that a failure leaves a listed record.
            if let Ok(rd) = fs::read_dir(&d.path) {
                for e in rd.flatten() {
                    let p = e.path();
                    if p == d.config() || p == d.state() {
                        continue;
                    }
                    let r = match e.file_type() {
                        Ok(t) if t.is_dir() => fs::remove_dir_all(&p),
                        _ => fs::remove_file(&p),
                    };
                    r.map_err(|err| RuntimeError::io(&p, err))?;
                }
            }
            remove_tree(&d.path)?;
        }
        if let Some(name) = name {
            self.release_name(&name, id);
        }
        Ok(())
    }

    fn trash(&self) -> PathBuf {
        self.dir.join(".trash")
    }

    /// Deletes the records removed since the last call; true if any were.
    /// The monitor calls it when idle (and before it exits).
    pub fn collect_trash(&self) -> bool {
        let Ok(rd) = fs::read_dir(self.trash()) else {
            return false;
        };
        let mut any = false;
        for e in rd.flatten() {
            any = true;
            let _ = fs::remove_dir_all(e.path());
        }
        any
    }
}

/// Replaces the file `path` by one holding `data`, atomically: readers see
/// the old content or the new, never a mix. The new file is swapped in with
/// `RENAME_EXCHANGE` rather than renamed over the old one: ext4 forces the
/// allocation and writeback of a file renamed over another (`auto_da_alloc`),
/// and later frees the old one's blocks, which a file system mounted with
/// `discard` discards synchronously — milliseconds per state change. The
/// old content, swapped out, is unlinked while it still has no blocks.
pub fn replace(path: &Path, data: &[u8]) -> Result<()> {
    use std::os::unix::fs::OpenOptionsExt;

    use nix::fcntl::{AT_FDCWD, RenameFlags, renameat2};

    let name = path
        .file_name()
        .map(|n| n.to_string_lossy())
        .unwrap_or_default();
    let tmp = path.with_file_name(format!(".{name}.{}", std::process::id()));
    let io = |p: &Path, e: std::io::Error| RuntimeError::io(p, e);
    {
        let mut f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o644)
            .open(&tmp)
            .map_err(|e| io(&tmp, e))?;
        f.write_all(data).map_err(|e| io(&tmp, e))?;
    }
    match renameat2(AT_FDCWD, &tmp, AT_FDCWD, path, RenameFlags::RENAME_EXCHANGE) {
        Ok(()) => {
            let _ = fs::remove_file(&tmp);
            Ok(())
        }
        // Nothing to exchange with yet, or a file system without exchange.
        Err(_) => fs::rename(&tmp, path).map_err(|e| {
            let _ = fs::remove_file(&tmp);
            io(path, e)
        }),
    }
}

/// `rm -rf`, tolerating a missing directory.
pub fn remove_tree(p: &Path) -> Result<()> {
    match fs::remove_dir_all(p) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(RuntimeError::io(p, e)),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Process;

    fn cfg(name: &str) -> ContainerConfig {
        ContainerConfig {
            name: name.into(),
            image: "busybox".into(),
            process: Process {
                args: vec!["true".into()],
                ..Default::default()
            },
            ..Default::default()
        }
    }

    #[test]
    fn replace_swaps_files_in_and_leaves_nothing_else() {
        let tmp = tempfile::tempdir().unwrap();
        let p = tmp.path().join("state.json");
        replace(&p, b"one").unwrap();
        replace(&p, b"two").unwrap();
        replace(&p, b"three").unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"three");
        let names: Vec<_> = fs::read_dir(tmp.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["state.json"]);
    }

    #[test]
    fn a_name_left_by_a_dead_creator_is_taken_and_one_in_creation_is_not() {
        let tmp = tempfile::tempdir().unwrap();
        let r = Records::new(&Root::new(tmp.path()));
        let index = tmp.path().join("containers/by-name");
        fs::create_dir_all(&index).unwrap();
        // Killed between claiming and writing the record, by this version
        // (an id without a record) or an older one (an empty entry).
        fs::write(index.join("web"), "f".repeat(64)).unwrap();
        fs::write(index.join("db"), "").unwrap();
        let web = r.create(cfg("web")).unwrap();
        r.create(cfg("db")).unwrap();
        assert_eq!(r.resolve("web").unwrap().as_deref(), Some(web.id.as_str()));
        // A creator still at work holds the entry locked: refused, with its id.
        fs::write(index.join("cache"), "e".repeat(64)).unwrap();
        let creator = File::open(index.join("cache")).unwrap();
        creator.lock().unwrap();
        let err = r.create(cfg("cache")).unwrap_err().to_string();
        assert!(err.contains(&"e".repeat(64)), "{err}");
        drop(creator);
        r.create(cfg("cache")).unwrap();
        let left: Vec<_> = fs::read_dir(&index)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| n.starts_with('.'))
            .collect();
        assert_eq!(left, Vec::<String>::new(), "claim files left");
    }

    #[test]
    fn names_are_unique_and_renamable() {
        let tmp = tempfile::tempdir().unwrap();
        let r = Records::new(&Root::new(tmp.path()));
        let a = r.create(cfg("web")).unwrap();
        let err = r.create(cfg("web")).unwrap_err().to_string();
        assert!(
            err.contains("The container name \"/web\" is already in use"),
            "{err}"
        );
        assert_eq!(r.resolve("web").unwrap().as_deref(), Some(a.id.as_str()));
        assert_eq!(
            r.resolve(&a.id[..6]).unwrap().as_deref(),
            Some(a.id.as_str())
        );
        r.rename(&a.id, "web2").unwrap();
        assert!(r.resolve("web").unwrap().is_none());
        let b = r.create(cfg("web")).unwrap();
        assert_ne!(a.id, b.id);
        r.delete(&a.id).unwrap();
        assert!(r.resolve("web2").unwrap().is_none());
        assert_eq!(r.ids().unwrap(), vec![b.id.clone()]);
        assert!(matches!(
            r.create(cfg("-bad")),
            Err(RuntimeError::InvalidName(_))
        ));
    }
}
