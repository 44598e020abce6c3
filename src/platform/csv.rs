//! Every CSV file the back office hands out is written here, so that no cell
//! can be read by a spreadsheet as a formula (`=HYPERLINK(…)` as a name) and
//! every cell is quoted correctly.

use axum::{
    http::{HeaderValue, header},
    response::{IntoResponse, Response},
};
use std::borrow::Cow;

/// A cell as a spreadsheet should see it: one starting with `=`, `+`, `-`,
/// `@`, a tab or a carriage return gets a leading `'`, so it is shown as
/// text instead of being run (OWASP's advice on CSV injection).
pub fn defuse(cell: &str) -> Cow<'_, str> {
    if cell.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        Cow::Owned(format!("'{cell}"))
    } else {
        Cow::Borrowed(cell)
    }
}

/// A CSV file being written: a header row, then rows, each cell defused and
/// quoted where needed (RFC 4180, CRLF line ends).
pub struct Csv {
    out: csv::Writer<Vec<u8>>,
}

impl Csv {
    pub fn new<S: AsRef<str>>(header: impl IntoIterator<Item = S>) -> anyhow::Result<Csv> {
        let out = csv::WriterBuilder::new()
            .terminator(csv::Terminator::CRLF)
            .from_writer(Vec::new());
        let mut csv = Csv { out };
        csv.row(header)?;
        Ok(csv)
    }

    pub fn row<S: AsRef<str>>(&mut self, cells: impl IntoIterator<Item = S>) -> anyhow::Result<()> {
        let cells: Vec<String> = cells
            .into_iter()
            .map(|c| defuse(c.as_ref()).into_owned())
            .collect();
        self.out.write_record(&cells)?;
        Ok(())
    }

    pub fn into_bytes(self) -> anyhow::Result<Vec<u8>> {
        self.out
            .into_inner()
            .map_err(|e| anyhow::anyhow!("writing CSV: {}", e.error()))
    }

    /// The file as a download named `filename`, never cached.
    pub fn download(self, filename: &str) -> anyhow::Result<Response> {
        let bytes = self.into_bytes()?;
        let mut response = bytes.into_response();
        let h = response.headers_mut();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/csv; charset=utf-8"),
        );
        let safe: String = filename
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
            .collect();
        if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{safe}\"")) {
            h.insert(header::CONTENT_DISPOSITION, v);
        }
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        Ok(response)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(rows: &[&[&str]]) -> String {
        let mut csv = Csv::new(rows[0]).unwrap();
        for r in &rows[1..] {
            csv.row(*r).unwrap();
        }
        String::from_utf8(csv.into_bytes().unwrap()).unwrap()
    }

    #[test]
    fn cells_are_quoted_and_never_formulas() {
        assert_eq!(defuse("plain"), "plain");
        assert_eq!(defuse("=HYPERLINK(\"x\")"), "'=HYPERLINK(\"x\")");
        for risky in ["+1", "-1+1", "@SUM(A1)", "\tx", "\rx"] {
            assert!(defuse(risky).starts_with('\''), "{risky:?}");
        }
        assert_eq!(
            file(&[
                &["a", "b"],
                &["=HYPERLINK(\"http://x\")", "b,c"],
                &["say \"hi\"", "line\nbreak"]
            ]),
            "a,b\r\n\"'=HYPERLINK(\"\"http://x\"\")\",\"b,c\"\r\n\"say \"\"hi\"\"\",\"line\nbreak\"\r\n"
        );
    }
}
