//! The PromQL lexer: tokens with their byte offsets.

use super::ParseError;

/// One token.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Tok {
    /// An identifier or keyword (`sum`, `by`, `foo:bar`); keywords are decided by the parser.
    Ident(String),
    Number(f64),
    /// A duration in milliseconds (`5m`, `1h30m`).
    Duration(i64),
    Str(String),
    LParen,
    RParen,
    LBrace,
    RBrace,
    LBracket,
    RBracket,
    Comma,
    Colon,
    At,
    /// `=` (only inside braces)
    Assign,
    EqlRegex,
    NeqRegex,
    Op(&'static str),
    Eof,
}

impl Tok {
    pub(crate) fn describe(&self) -> String {
        match self {
            Tok::Ident(s) => format!("identifier {s:?}"),
            Tok::Number(n) => format!("number {n}"),
            Tok::Duration(_) => "duration".into(),
            Tok::Str(s) => format!("string {s:?}"),
            Tok::LParen => "\"(\"".into(),
            Tok::RParen => "\")\"".into(),
            Tok::LBrace => "\"{\"".into(),
            Tok::RBrace => "\"}\"".into(),
            Tok::LBracket => "\"[\"".into(),
            Tok::RBracket => "\"]\"".into(),
            Tok::Comma => "\",\"".into(),
            Tok::Colon => "\":\"".into(),
            Tok::At => "\"@\"".into(),
            Tok::Assign => "\"=\"".into(),
            Tok::EqlRegex => "\"=~\"".into(),
            Tok::NeqRegex => "\"!~\"".into(),
            Tok::Op(o) => format!("\"{o}\""),
            Tok::Eof => "end of input".into(),
        }
    }
}

/// Tokenises `src`; each token with its start offset.
pub(crate) fn lex(src: &str) -> Result<Vec<(Tok, usize)>, ParseError> {
    let b = src.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    let err = |at: usize, msg: String| ParseError::at(src, at, msg);
    while i < b.len() {
        let c = b[i];
        let start = i;
        match c {
            b' ' | b'\t' | b'\n' | b'\r' => {
                i += 1;
                continue;
            }
            b'#' => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
                continue;
            }
            b'(' | b')' | b'{' | b'}' | b'[' | b']' | b',' | b':' | b'@' => {
                i += 1;
                out.push((
                    match c {
                        b'(' => Tok::LParen,
                        b')' => Tok::RParen,
                        b'{' => Tok::LBrace,
                        b'}' => Tok::RBrace,
                        b'[' => Tok::LBracket,
                        b']' => Tok::RBracket,
                        b',' => Tok::Comma,
                        b':' => Tok::Colon,
                        _ => Tok::At,
                    },
                    start,
                ));
                continue;
            }
            b'"' | b'\'' | b'`' => {
                let (s, used) = unquote(&src[i..]).map_err(|m| err(start, m))?;
                i += used;
                out.push((Tok::Str(s), start));
                continue;
            }
            _ => {}
        }
        let two = b.get(i + 1).copied();
        let op: Option<(Tok, usize)> = match (c, two) {
            (b'=', Some(b'=')) => Some((Tok::Op("=="), 2)),
            (b'=', Some(b'~')) => Some((Tok::EqlRegex, 2)),
            (b'=', _) => Some((Tok::Assign, 1)),
            (b'!', Some(b'=')) => Some((Tok::Op("!="), 2)),
            (b'!', Some(b'~')) => Some((Tok::NeqRegex, 2)),
            (b'<', Some(b'=')) => Some((Tok::Op("<="), 2)),
            (b'>', Some(b'=')) => Some((Tok::Op(">="), 2)),
            (b'<', _) => Some((Tok::Op("<"), 1)),
            (b'>', _) => Some((Tok::Op(">"), 1)),
            (b'+', _) => Some((Tok::Op("+"), 1)),
            (b'-', _) => Some((Tok::Op("-"), 1)),
            (b'*', _) => Some((Tok::Op("*"), 1)),
            (b'/', _) => Some((Tok::Op("/"), 1)),
            (b'%', _) => Some((Tok::Op("%"), 1)),
            (b'^', _) => Some((Tok::Op("^"), 1)),
            _ => None,
        };
        if let Some((t, n)) = op {
            i += n;
            out.push((t, start));
            continue;
        }
        if c.is_ascii_digit() || (c == b'.' && two.is_some_and(|d| d.is_ascii_digit())) {
            let (tok, used) = number_or_duration(&src[i..]).map_err(|m| err(start, m))?;
            i += used;
            out.push((tok, start));
            continue;
        }
        if c.is_ascii_alphabetic() || c == b'_' {
            while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_' || b[i] == b':') {
                i += 1;
            }
            out.push((Tok::Ident(src[start..i].to_owned()), start));
            continue;
        }
        let ch = src[i..].chars().next().unwrap_or('?');
        return Err(err(start, format!("unexpected character {ch:?}")));
    }
    out.push((Tok::Eof, src.len()));
    Ok(out)
}

/// A number (`1`, `1.5e3`, `.5`, `0x1f`) or a duration (`5m`, `1h30m`, `500ms`).
fn number_or_duration(s: &str) -> Result<(Tok, usize), String> {
    let b = s.as_bytes();
    if b.len() > 1 && b[0] == b'0' && (b[1] == b'x' || b[1] == b'X') {
        let n = 2 + b[2..].iter().take_while(|c| c.is_ascii_hexdigit()).count();
        let v =
            u64::from_str_radix(&s[2..n], 16).map_err(|_| format!("bad number {:?}", &s[..n]))?;
        return Ok((Tok::Number(v as f64), n));
    }
    // A duration is digits followed by a unit, possibly repeated.
    let digits = b.iter().take_while(|c| c.is_ascii_digit()).count();
    if digits > 0
        && b.get(digits)
            .is_some_and(|c| matches!(c, b's' | b'm' | b'h' | b'd' | b'w' | b'y'))
    {
        let mut n = 0;
        loop {
            let d = b[n..].iter().take_while(|c| c.is_ascii_digit()).count();
            if d == 0 {
                break;
            }
            let u = b[n + d..]
                .iter()
                .take_while(|c| c.is_ascii_alphabetic())
                .count();
            if u == 0 {
                break;
            }
            n += d + u;
        }
        let text = &s[..n];
        let d = crate::time::parse_duration(text)?;
        let ms =
            i64::try_from(d.as_millis()).map_err(|_| format!("duration {text:?} is too long"))?;
        return Ok((Tok::Duration(ms), n));
    }
    let mut n = digits;
    if b.get(n) == Some(&b'.') {
        n += 1;
        n += b[n..].iter().take_while(|c| c.is_ascii_digit()).count();
    }
    if matches!(b.get(n), Some(b'e' | b'E')) {
        let mut m = n + 1;
        if matches!(b.get(m), Some(b'+' | b'-')) {
            m += 1;
        }
        let e = b[m..].iter().take_while(|c| c.is_ascii_digit()).count();
        if e > 0 {
            n = m + e;
        }
    }
    if b.get(n)
        .is_some_and(|c| c.is_ascii_alphabetic() || *c == b'_')
    {
        let end = n + b[n..]
            .iter()
            .take_while(|c| c.is_ascii_alphanumeric())
            .count();
        return Err(format!("bad number or duration syntax {:?}", &s[..end]));
    }
    let v: f64 = s[..n]
        .parse()
        .map_err(|_| format!("bad number {:?}", &s[..n]))?;
    Ok((Tok::Number(v), n))
}

/// A quoted string at the start of `s` with Go's escapes (raw for backticks): (value, bytes used).
pub(crate) fn unquote(s: &str) -> Result<(String, usize), String> {
    let mut chars = s.char_indices();
    let Some((_, q)) = chars.next() else {
        return Err("expected a string".into());
    };
    let mut out = String::new();
    while let Some((i, c)) = chars.next() {
        if c == q {
            return Ok((out, i + 1));
        }
        if c == '\n' && q != '`' {
            return Err("unterminated quoted string".into());
        }
        if c != '\\' || q == '`' {
            out.push(c);
            continue;
        }
        let Some((_, e)) = chars.next() else { break };
        let mut hex = |n: usize| -> Result<u32, String> {
            let mut v = 0u32;
            for _ in 0..n {
                let d = chars
                    .next()
                    .and_then(|(_, c)| c.to_digit(16))
                    .ok_or("invalid escape sequence: expected hex digits")?;
                v = v * 16 + d;
            }
            Ok(v)
        };
        let ch = match e {
            'a' => '\x07',
            'b' => '\x08',
            'f' => '\x0c',
            'n' => '\n',
            'r' => '\r',
            't' => '\t',
            'v' => '\x0b',
            '\\' => '\\',
            '\'' if q == '\'' => '\'',
            '"' if q == '"' => '"',
            'x' => {
                let v = hex(2)?;
                if v > 0x7f {
                    return Err(format!("invalid UTF-8 in string (byte \\x{v:02x})"));
                }
                char::from_u32(v).ok_or("invalid escape sequence")?
            }
            'u' => char::from_u32(hex(4)?).ok_or("invalid unicode escape")?,
            'U' => char::from_u32(hex(8)?).ok_or("invalid unicode escape")?,
            '0'..='7' => {
                let mut v = e.to_digit(8).unwrap_or(0);
                for _ in 0..2 {
                    let d = chars
                        .next()
                        .and_then(|(_, c)| c.to_digit(8))
                        .ok_or("invalid octal escape")?;
                    v = v * 8 + d;
                }
                if v > 0x7f {
                    return Err(format!("invalid UTF-8 in string (byte \\{v:03o})"));
                }
                char::from_u32(v).ok_or("invalid octal escape")?
            }
            other => return Err(format!("unknown escape sequence '\\{other}'")),
        };
        out.push(ch);
    }
    Err("unterminated quoted string".into())
}
