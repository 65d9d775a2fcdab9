//! CSV downloads written for the spreadsheet people actually open them in.
//!
//! Excel reads a CSV file without a byte-order mark in the system's legacy code page, which
//! turns Chinese text into mojibake; with the UTF-8 mark it reads UTF-8. Fields follow RFC 4180
//! (CRLF line ends, quotes doubled inside quoted fields).
//!
//! Cells that begin like a formula are defused: incident titles and comments come from anyone
//! who can file a report, and a cell such as `=HYPERLINK(...)` or `@SUM(...)` would otherwise
//! run in the spreadsheet of whoever opens the export.

/// The UTF-8 byte-order mark.
const BOM: &[u8] = b"\xEF\xBB\xBF";

/// A CSV document: UTF-8 with a byte-order mark (so Excel detects UTF-8 and shows Chinese
/// correctly), CRLF line ends (RFC 4180), every field quoted when it holds a comma, quote, CR or LF.
///
/// A field that a spreadsheet would read as a formula (it starts with `=`, `+`, `-`, `@`, tab or
/// CR and is not a plain number such as `-12` or `3.5`) gets a leading `'`. Every line, the last
/// included, ends with CRLF; rows are written as given, even when their lengths differ.
pub fn document(header: &[&str], rows: &[Vec<String>]) -> Vec<u8> {
    let mut out = String::new();
    write_line(&mut out, header.iter().copied());
    for row in rows {
        write_line(&mut out, row.iter().map(String::as_str));
    }
    let mut bytes = Vec::with_capacity(BOM.len() + out.len());
    bytes.extend_from_slice(BOM);
    bytes.extend_from_slice(out.as_bytes());
    bytes
}

fn write_line<'a>(out: &mut String, fields: impl Iterator<Item = &'a str>) {
    for (i, field) in fields.enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_field(out, field);
    }
    out.push_str("\r\n");
}

fn write_field(out: &mut String, field: &str) {
    let defused = if looks_like_formula(field) { format!("'{field}") } else { field.to_owned() };
    if defused.contains([',', '"', '\r', '\n']) {
        out.push('"');
        out.push_str(&defused.replace('"', "\"\""));
        out.push('"');
    } else {
        out.push_str(&defused);
    }
}

/// Whether a spreadsheet would evaluate `field` rather than show it. Plain numbers are exempt so
/// that negative figures stay numbers a reader can sum.
fn looks_like_formula(field: &str) -> bool {
    field.starts_with(['=', '+', '-', '@', '\t', '\r']) && !is_plain_number(field)
}

/// An optional sign, digits, and an optional fraction: `-12`, `3.5`, `-0.25`, `+.5`. Anything
/// looser (exponents, `inf`) is not needed for exports and would widen the exemption.
fn is_plain_number(field: &str) -> bool {
    let unsigned = field.strip_prefix(['-', '+']).unwrap_or(field);
    let (whole, fraction) = match unsigned.split_once('.') {
        Some((whole, fraction)) => (whole, Some(fraction)),
        None => (unsigned, None),
    };
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    match fraction {
        None => !whole.is_empty() && digits(whole),
        Some(fraction) => !fraction.is_empty() && digits(whole) && digits(fraction),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(fields: &[&str]) -> Vec<String> {
        fields.iter().map(|f| (*f).to_owned()).collect()
    }

    /// The document after its byte-order mark, as text.
    fn text(bytes: &[u8]) -> &str {
        std::str::from_utf8(bytes.strip_prefix(BOM).expect("byte-order mark")).expect("UTF-8")
    }

    #[test]
    fn starts_with_a_byte_order_mark() {
        let bytes = document(&["a"], &[]);
        assert_eq!(&bytes[..3], &[0xEF, 0xBB, 0xBF]);
    }

    #[test]
    fn chinese_is_written_as_utf8() {
        let bytes = document(&["标题"], &[row(&["数据库连接池耗尽"])]);
        assert_eq!(text(&bytes), "标题\r\n数据库连接池耗尽\r\n");
        let expected = [BOM, "标题\r\n数据库连接池耗尽\r\n".as_bytes()].concat();
        assert_eq!(bytes, expected);
    }

    #[test]
    fn fields_with_separators_are_quoted() {
        let bytes = document(&["a", "b", "c", "d"], &[row(&["x,y", r#"say "hi""#, "line\nbreak", "cr\rhere"])]);
        assert_eq!(text(&bytes), "a,b,c,d\r\n\"x,y\",\"say \"\"hi\"\"\",\"line\nbreak\",\"cr\rhere\"\r\n");
        assert_eq!(text(&document(&["plain"], &[row(&["no quotes needed", ""])])), "plain\r\nno quotes needed,\r\n");
    }

    #[test]
    fn formulas_are_defused_but_numbers_are_not() {
        let bytes = document(
            &["f"],
            &[row(&[
                "=1+1",
                "+cmd",
                "-2+3",
                "@SUM(A1)",
                "\tx",
                "=HYPERLINK(\"http://x\",\"y\")",
                "-12",
                "3.5",
                "-0.25",
                "+7",
            ])],
        );
        assert_eq!(
            text(&bytes),
            "f\r\n'=1+1,'+cmd,'-2+3,'@SUM(A1),'\tx,\"'=HYPERLINK(\"\"http://x\"\",\"\"y\"\")\",-12,3.5,-0.25,+7\r\n"
        );
        assert_eq!(text(&document(&["f"], &[row(&["\r=1"])])), "f\r\n\"'\r=1\"\r\n");
        for not_number in ["-", "-.", "-1.", "-1e5", "-inf", "--1", "-1.2.3"] {
            assert!(looks_like_formula(not_number), "{not_number}");
        }
        assert!(!looks_like_formula("a=b") && !looks_like_formula("1-2"));
    }

    #[test]
    fn lines_end_with_crlf() {
        let bytes = document(&["a", "b"], &[row(&["1", "2"]), row(&["3", "4"])]);
        assert_eq!(text(&bytes), "a,b\r\n1,2\r\n3,4\r\n");
    }

    #[test]
    fn no_rows_is_header_only() {
        assert_eq!(document(&["id", "标题"], &[]), [BOM, "id,标题\r\n".as_bytes()].concat());
    }
}
