//! Writing a file so that readers see the old contents or the new, never a partial file, even
//! when several threads or processes write the same path at once (tests share the SRS store and
//! the aggregation cache).

use std::fs;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::error::ProverError;

/// Writes `path` through `body`, into a temporary file beside it that is renamed into place; the
/// temporary file is removed if `body` fails. The temporary name is unique per process and call,
/// so concurrent writers of one path do not collide (the last rename wins, whole).
pub fn write_atomically(path: &Path, body: impl FnOnce(&mut BufWriter<fs::File>) -> std::io::Result<()>) -> Result<(), ProverError> {
    let tmp = temporary_path(path);
    let written = fs::File::create(&tmp).and_then(|file| {
        let mut w = BufWriter::with_capacity(1 << 20, file);
        body(&mut w)?;
        w.flush()
    });
    if let Err(e) = written {
        let _ = fs::remove_file(&tmp);
        return Err(ProverError::io(&tmp, e));
    }
    fs::rename(&tmp, path).map_err(|e| ProverError::io(path, e))
}

fn temporary_path(path: &Path) -> PathBuf {
    static WRITES: AtomicUsize = AtomicUsize::new(0);
    let n = WRITES.fetch_add(1, Ordering::Relaxed);
    let name = path.file_name().map_or_else(|| "file".into(), |n| n.to_string_lossy().into_owned());
    path.with_file_name(format!(".{name}.{}-{n}.tmp", std::process::id()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn concurrent_writers_of_one_path_leave_one_whole_file() {
        let dir = std::env::temp_dir().join(format!("zkml-atomic-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let path = dir.join("shared.bin");
        std::thread::scope(|s| {
            for byte in 0..8u8 {
                let path = &path;
                s.spawn(move || write_atomically(path, |w| w.write_all(&[byte; 100_000])).unwrap());
            }
        });
        let bytes = fs::read(&path).unwrap();
        assert_eq!(bytes.len(), 100_000);
        assert!(bytes.iter().all(|b| *b == bytes[0]), "a mix of two writes");
        assert_eq!(fs::read_dir(&dir).unwrap().count(), 1, "temporary files left behind");

        let failed = write_atomically(&path, |_| Err(std::io::Error::other("disk full")));
        assert!(failed.is_err());
        assert_eq!(fs::read(&path).unwrap(), bytes, "a failed write keeps the old file");
        assert_eq!(fs::read_dir(&dir).unwrap().count(), 1, "the failed temporary file is removed");
        fs::remove_dir_all(&dir).unwrap();
    }
}
