//! LFW `pairs.txt`: parsing and mapping to image paths, as `lfw.read_pairs` / `lfw.get_paths` do.
//!
//! The file starts with a header line (`10\t300`: 10 sets of 300 same and 300 different pairs),
//! followed by one pair per line:
//! * same person: `name\tn1\tn2`
//! * different people: `name1\tn1\tname2\tn2`
//!
//! Image `n` of `name` is `<dir>/<name>/<name>_<nnnn>.<ext>` with `n` zero-padded to 4 digits.
//!
//! Differences from the Python, all on malformed input: the header must be one or two integers
//! (the Python skips line 1 unread, so a file without a header silently loses its first pair);
//! blank lines are skipped (the Python repeats the previous pair); any other field count is an
//! error (the Python also repeats the previous pair, or fails).

use std::path::{Path, PathBuf};

use crate::{Error, Result};

/// One image of a pair: a person's directory name and the image number within it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
pub struct ImageRef {
    pub name: String,
    pub number: u32,
}

impl ImageRef {
    /// `<name>_<nnnn>`, without extension.
    pub fn file_stem(&self) -> String {
        format!("{}_{:04}", self.name, self.number)
    }

    /// `<name>/<name>_<nnnn>`, without extension.
    pub fn relative_stem(&self) -> PathBuf {
        Path::new(&self.name).join(self.file_stem())
    }

    /// `<dir>/<name>/<name>_<nnnn>.<ext>`; touches no file.
    pub fn path(&self, dir: &Path, ext: &str) -> PathBuf {
        dir.join(&self.name)
            .join(format!("{}.{}", self.file_stem(), ext))
    }

    /// Like `lfw.add_extension`: the `.jpg` file if it exists, else the `.png` one (aligned
    /// directories hold PNGs), else `None`.
    pub fn find(&self, dir: &Path) -> Option<PathBuf> {
        ["jpg", "png"]
            .iter()
            .map(|ext| self.path(dir, ext))
            .find(|p| p.is_file())
    }
}

/// One line of `pairs.txt`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Pair {
    /// 1-based line number in the file.
    pub line: usize,
    pub first: ImageRef,
    pub second: ImageRef,
    /// True for a same-person line (3 fields).
    pub issame: bool,
}

/// A parsed `pairs.txt`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PairsFile {
    /// The header's integers, normally `[sets, pairs_per_set]` (`[10, 300]` for LFW).
    pub header: Vec<usize>,
    pub pairs: Vec<Pair>,
}

impl PairsFile {
    /// Reads and parses a `pairs.txt`.
    pub fn read(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(&text)
    }

    /// Parses the text of a `pairs.txt`. Errors name the 1-based line.
    pub fn parse(text: &str) -> Result<Self> {
        let mut lines = text.lines().enumerate().map(|(i, l)| (i + 1, l));
        let bad = |line: usize, message: String| Error::Pairs { line, message };

        let (_, head) = lines.next().ok_or_else(|| {
            bad(
                1,
                "empty file: expected a header line such as \"10\\t300\"".into(),
            )
        })?;
        let header = head
            .split_whitespace()
            .map(|t| t.parse::<usize>())
            .collect::<std::result::Result<Vec<_>, _>>()
            .ok()
            .filter(|h| (1..=2).contains(&h.len()))
            .ok_or_else(|| {
                bad(
                    1,
                    format!("expected a header of one or two integers such as \"10\\t300\", found {head:?}"),
                )
            })?;

        let mut pairs = Vec::new();
        for (line, text) in lines {
            let fields: Vec<&str> = text.split_whitespace().collect();
            let image = |name: &str, num: &str| -> Result<ImageRef> {
                if name.is_empty() || name == "." || name == ".." || name.contains(['/', '\\']) {
                    return Err(bad(line, format!("invalid person name {name:?}")));
                }
                let number = num
                    .parse::<u32>()
                    .map_err(|e| bad(line, format!("invalid image number {num:?}: {e}")))?;
                Ok(ImageRef {
                    name: name.to_string(),
                    number,
                })
            };
            let pair = match fields.as_slice() {
                [] => continue,
                [name, n1, n2] => Pair {
                    line,
                    first: image(name, n1)?,
                    second: image(name, n2)?,
                    issame: true,
                },
                [name1, n1, name2, n2] => Pair {
                    line,
                    first: image(name1, n1)?,
                    second: image(name2, n2)?,
                    issame: false,
                },
                other => {
                    return Err(bad(
                        line,
                        format!(
                            "expected 3 fields (name n1 n2) or 4 (name1 n1 name2 n2), found {}",
                            other.len()
                        ),
                    ))
                }
            };
            pairs.push(pair);
        }
        Ok(PairsFile { header, pairs })
    }

    /// Number of pairs the header announces (`sets * pairs_per_set * 2` for a two-number header,
    /// the number itself for a one-number header).
    pub fn expected_pairs(&self) -> usize {
        match self.header.as_slice() {
            [sets, per_set] => sets * per_set * 2,
            [n] => *n,
            _ => 0,
        }
    }

    /// The same/different labels, in file order (`actual_issame`).
    pub fn issame(&self) -> Vec<bool> {
        self.pairs.iter().map(|p| p.issame).collect()
    }

    /// The distinct images, sorted by name then number.
    pub fn images(&self) -> Vec<ImageRef> {
        let mut v: Vec<ImageRef> = self
            .pairs
            .iter()
            .flat_map(|p| [p.first.clone(), p.second.clone()])
            .collect();
        v.sort();
        v.dedup();
        v
    }

    /// The two paths of every pair with a fixed extension; touches no file.
    pub fn paths_with_extension(&self, dir: &Path, ext: &str) -> Vec<(PathBuf, PathBuf)> {
        self.pairs
            .iter()
            .map(|p| (p.first.path(dir, ext), p.second.path(dir, ext)))
            .collect()
    }

    /// The two paths of every pair, each `.jpg` if it exists else `.png` (`lfw.add_extension`).
    /// An image with neither is an error naming the line, as the Python raises.
    pub fn resolve(&self, dir: &Path) -> Result<Vec<(PathBuf, PathBuf)>> {
        let find = |p: &Pair, r: &ImageRef| {
            r.find(dir).ok_or_else(|| Error::MissingImage {
                line: p.line,
                stem: dir.join(r.relative_stem()),
            })
        };
        self.pairs
            .iter()
            .map(|p| Ok((find(p, &p.first)?, find(p, &p.second)?)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_both_kinds_and_maps_paths() {
        let f = PairsFile::parse("1\t2\nAbel_Pacheco\t1\t4\n\nA_B\t1\tC_D\t12\n").unwrap();
        assert_eq!(f.header, vec![1, 2]);
        assert_eq!(f.expected_pairs(), 4);
        assert_eq!(f.pairs.len(), 2);
        assert_eq!(f.issame(), vec![true, false]);
        assert_eq!(f.pairs[1].line, 4);
        let p = f.paths_with_extension(Path::new("lfw"), "jpg");
        assert_eq!(p[0].0, Path::new("lfw/Abel_Pacheco/Abel_Pacheco_0001.jpg"));
        assert_eq!(p[0].1, Path::new("lfw/Abel_Pacheco/Abel_Pacheco_0004.jpg"));
        assert_eq!(p[1].1, Path::new("lfw/C_D/C_D_0012.jpg"));
        assert_eq!(f.images().len(), 4);
    }

    #[test]
    fn errors_name_the_line() {
        let e = PairsFile::parse("10\t300\nA\t1\t2\nB\t1\n").unwrap_err();
        assert!(matches!(e, Error::Pairs { line: 3, .. }), "{e}");
        let e = PairsFile::parse("10\t300\nA\t1\tx\n").unwrap_err();
        assert!(matches!(e, Error::Pairs { line: 2, .. }), "{e}");
        let e = PairsFile::parse("Abel_Pacheco\t1\t4\n").unwrap_err();
        assert!(matches!(e, Error::Pairs { line: 1, .. }), "{e}");
        let e = PairsFile::parse("10\n../x\t1\t2\n").unwrap_err();
        assert!(matches!(e, Error::Pairs { line: 2, .. }), "{e}");
        assert!(PairsFile::parse("").is_err());
    }

    #[test]
    fn resolve_prefers_jpg_then_png() {
        let dir = std::env::temp_dir().join(format!("facenet-eval-pairs-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("A")).unwrap();
        std::fs::write(dir.join("A/A_0001.png"), b"x").unwrap();
        std::fs::write(dir.join("A/A_0002.jpg"), b"x").unwrap();
        std::fs::write(dir.join("A/A_0002.png"), b"x").unwrap();
        let f = PairsFile::parse("1 1\nA 1 2\nA 1 3\n").unwrap();
        let e = f.resolve(&dir).unwrap_err();
        assert!(matches!(e, Error::MissingImage { line: 3, .. }), "{e}");
        let ok = PairsFile::parse("1 1\nA 1 2\n")
            .unwrap()
            .resolve(&dir)
            .unwrap();
        assert_eq!(ok[0].0, dir.join("A/A_0001.png"));
        assert_eq!(ok[0].1, dir.join("A/A_0002.jpg"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
