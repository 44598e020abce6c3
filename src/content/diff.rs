//! A line diff for comparing revisions (longest common subsequence).

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Change {
    Same,
    Added,
    Removed,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Line {
    pub change: Change,
    pub text: String,
}

impl Line {
    pub fn class(&self) -> &'static str {
        match self.change {
            Change::Same => "same",
            Change::Added => "added",
            Change::Removed => "removed",
        }
    }

    pub fn sign(&self) -> &'static str {
        match self.change {
            Change::Same => " ",
            Change::Added => "+",
            Change::Removed => "-",
        }
    }
}

/// Past this many line pairs the table would be too big: show both whole.
const MAX_CELLS: usize = 4_000_000;

/// Lines of `old` and `new` marked as kept, removed or added.
pub fn lines(old: &str, new: &str) -> Vec<Line> {
    let a: Vec<&str> = old.lines().collect();
    let b: Vec<&str> = new.lines().collect();
    let line = |change, text: &str| Line {
        change,
        text: text.to_string(),
    };
    // Common head and tail need no table.
    let head = a.iter().zip(&b).take_while(|(x, y)| x == y).count();
    let tail = a[head..]
        .iter()
        .rev()
        .zip(b[head..].iter().rev())
        .take_while(|(x, y)| x == y)
        .count();
    let (am, bm) = (&a[head..a.len() - tail], &b[head..b.len() - tail]);
    let mut out: Vec<Line> = a[..head].iter().map(|t| line(Change::Same, t)).collect();
    if am.len().saturating_mul(bm.len()) > MAX_CELLS {
        out.extend(am.iter().map(|t| line(Change::Removed, t)));
        out.extend(bm.iter().map(|t| line(Change::Added, t)));
    } else {
        let (n, m) = (am.len(), bm.len());
        let mut lcs = vec![0u32; (n + 1) * (m + 1)];
        for i in (0..n).rev() {
            for j in (0..m).rev() {
                lcs[i * (m + 1) + j] = if am[i] == bm[j] {
                    lcs[(i + 1) * (m + 1) + j + 1] + 1
                } else {
                    lcs[(i + 1) * (m + 1) + j].max(lcs[i * (m + 1) + j + 1])
                };
            }
        }
        let (mut i, mut j) = (0, 0);
        while i < n || j < m {
            if i < n && j < m && am[i] == bm[j] {
                out.push(line(Change::Same, am[i]));
                i += 1;
                j += 1;
            } else if i < n && (j == m || lcs[(i + 1) * (m + 1) + j] >= lcs[i * (m + 1) + j + 1]) {
                out.push(line(Change::Removed, am[i]));
                i += 1;
            } else {
                out.push(line(Change::Added, bm[j]));
                j += 1;
            }
        }
    }
    out.extend(a[a.len() - tail..].iter().map(|t| line(Change::Same, t)));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changed_lines_are_marked() {
        let d = lines("a\nb\nc\nd", "a\nB\nc\nd\ne");
        let marked: Vec<String> = d
            .iter()
            .map(|l| format!("{}{}", l.sign(), l.text))
            .collect();
        assert_eq!(marked, vec![" a", "-b", "+B", " c", " d", "+e"]);
        assert!(
            lines("same", "same")
                .iter()
                .all(|l| l.change == Change::Same)
        );
        assert_eq!(lines("", "x").len(), 1);
    }
}
