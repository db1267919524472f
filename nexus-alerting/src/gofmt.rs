//! Go's float formatting (`%v`, `%g`, `%.Ng`, `%f`, `%e`), so `{{ $value }}` and `humanize`
//! render exactly as Prometheus renders them.

/// Decimal digits (no trailing zeros) and the decimal point position, of `|v|`.
fn digits(v: f64, sig: Option<usize>) -> (Vec<u8>, i32) {
    let s = match sig {
        None => format!("{:e}", v.abs()),
        Some(p) => format!("{:.*e}", p.max(1) - 1, v.abs()),
    };
    let (mant, exp) = s.split_once('e').unwrap_or((&s, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let mut d: Vec<u8> = mant.bytes().filter(u8::is_ascii_digit).collect();
    while d.len() > 1 && d.last() == Some(&b'0') {
        d.pop();
    }
    if d == [b'0'] {
        return (d, 1);
    }
    (d, exp + 1)
}

fn special(v: f64) -> Option<&'static str> {
    if v.is_nan() {
        Some("NaN")
    } else if v == f64::INFINITY {
        Some("+Inf")
    } else if v == f64::NEG_INFINITY {
        Some("-Inf")
    } else {
        None
    }
}

fn fmt_e(neg: bool, d: &[u8], dp: i32, decimals: usize) -> String {
    let mut out = String::new();
    if neg {
        out.push('-');
    }
    out.push(d.first().copied().unwrap_or(b'0') as char);
    if decimals > 0 {
        out.push('.');
        for i in 1..=decimals {
            out.push(d.get(i).copied().unwrap_or(b'0') as char);
        }
    }
    let exp = if d == [b'0'] { 0 } else { dp - 1 };
    out.push('e');
    out.push(if exp < 0 { '-' } else { '+' });
    out.push_str(&format!("{:02}", exp.abs()));
    out
}

fn fmt_f(neg: bool, d: &[u8], dp: i32, decimals: usize) -> String {
    let mut out = String::new();
    if neg {
        out.push('-');
    }
    if dp > 0 {
        for i in 0..dp as usize {
            out.push(d.get(i).copied().unwrap_or(b'0') as char);
        }
    } else {
        out.push('0');
    }
    if decimals > 0 {
        out.push('.');
        for i in 0..decimals as i32 {
            let idx = dp + i;
            let c = if idx >= 0 {
                d.get(idx as usize).copied().unwrap_or(b'0')
            } else {
                b'0'
            };
            out.push(c as char);
        }
    }
    out
}

/// `%g` (shortest, `prec = None`, which is also `%v`) or `%.{prec}g`.
pub(crate) fn go_g(v: f64, prec: Option<usize>) -> String {
    if let Some(s) = special(v) {
        return s.into();
    }
    let neg = v.is_sign_negative() && v != 0.0;
    let (d, dp) = digits(v, prec);
    let nd = d.len() as i32;
    let mut p = prec.map(|p| p.max(1) as i32).unwrap_or(nd);
    let mut eprec = p;
    if eprec > nd && nd >= dp {
        eprec = nd;
    }
    if prec.is_none() {
        eprec = 6;
    }
    let exp = dp - 1;
    if exp < -4 || exp >= eprec {
        if p > nd {
            p = nd;
        }
        return fmt_e(neg, &d, dp, (p - 1).max(0) as usize);
    }
    if p > dp {
        p = nd;
    }
    fmt_f(neg, &d, dp, (p - dp).max(0) as usize)
}

/// `%.{prec}f`.
pub(crate) fn go_f(v: f64, prec: usize) -> String {
    if let Some(s) = special(v) {
        return s.into();
    }
    let s = format!("{:.*}", prec, v);
    if s.starts_with("-") && s.trim_start_matches(['-', '0', '.']).is_empty() {
        // Go keeps the sign of negative zero results too: "-0.00".
        return s;
    }
    s
}

/// `%.{prec}e`.
pub(crate) fn go_e(v: f64, prec: usize) -> String {
    if let Some(s) = special(v) {
        return s.into();
    }
    let neg = v.is_sign_negative() && v != 0.0;
    let s = format!("{:.*e}", prec, v.abs());
    let (mant, exp) = s.split_once('e').unwrap_or((&s, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    format!(
        "{}{mant}e{}{:02}",
        if neg { "-" } else { "" },
        if exp < 0 { '-' } else { '+' },
        exp.abs()
    )
}

/// Prometheus' `humanize`: SI prefixes, 4 significant digits.
pub(crate) fn humanize(mut v: f64) -> String {
    if v == 0.0 || !v.is_finite() {
        return go_g(v, Some(4));
    }
    let mut prefix = "";
    if v.abs() >= 1.0 {
        for p in ["k", "M", "G", "T", "P", "E", "Z", "Y"] {
            if v.abs() < 1000.0 {
                break;
            }
            prefix = p;
            v /= 1000.0;
        }
    } else {
        for p in ["m", "u", "n", "p", "f", "a", "z", "y"] {
            if v.abs() >= 1.0 {
                break;
            }
            prefix = p;
            v *= 1000.0;
        }
    }
    format!("{}{prefix}", go_g(v, Some(4)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_go_fmt() {
        // Expected strings are what Go's fmt prints for these values.
        let v = |x: f64| go_g(x, None);
        assert_eq!(v(0.0), "0");
        assert_eq!(v(1.0), "1");
        assert_eq!(v(0.1), "0.1");
        assert_eq!(v(123456.0), "123456");
        assert_eq!(v(1234567.0), "1.234567e+06");
        assert_eq!(v(1e6), "1e+06");
        assert_eq!(v(0.0001), "0.0001");
        assert_eq!(v(0.00001), "1e-05");
        assert_eq!(v(-2.5), "-2.5");
        assert_eq!(v(1.0 / 3.0), "0.3333333333333333");
        assert_eq!(v(f64::INFINITY), "+Inf");
        assert_eq!(go_g(12.5, Some(4)), "12.5");
        assert_eq!(go_g(100000.0, Some(4)), "1e+05");
        assert_eq!(go_g(1234.0, Some(4)), "1234");
        assert_eq!(go_g(0.066666, Some(4)), "0.06667");
        assert_eq!(go_f(2.0 / 3.0, 2), "0.67");
        assert_eq!(go_e(1234.5, 2), "1.23e+03");
        assert_eq!(humanize(1234567.0), "1.235M");
        assert_eq!(humanize(0.0012), "1.2m");
        assert_eq!(humanize(0.0), "0");
    }
}
