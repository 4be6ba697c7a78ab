//! Tables as Docker's CLI prints them (Go's `tabwriter` with a minimum
//! cell width of 10 and a padding of 3; the last column is not padded).

/// `head` and `rows` as aligned lines, each ending with a newline.
pub fn render(head: &[&str], rows: &[Vec<String>]) -> String {
    let cols = head.len();
    let mut w: Vec<usize> = head.iter().map(|h| h.chars().count()).collect();
    for r in rows {
        for (i, cell) in r.iter().enumerate().take(cols) {
            w[i] = w[i].max(cell.chars().count());
        }
    }
    let w: Vec<usize> = w.into_iter().map(|x| (x + 3).max(10)).collect();
    let mut out = String::new();
    let mut line = |cells: Vec<&str>| {
        let mut s = String::new();
        for (i, c) in cells.iter().enumerate() {
            s.push_str(c);
            if i + 1 < cells.len() {
                s.push_str(&" ".repeat(w[i].saturating_sub(c.chars().count())));
            }
        }
        out.push_str(s.trim_end());
        out.push('\n');
    };
    line(head.to_vec());
    for r in rows {
        line(r.iter().map(String::as_str).collect());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_like_tabwriter() {
        let t = render(
            &["NAME", "STATUS", "PORTS"],
            &[vec!["app-web-1".into(), "Up 2 seconds".into(), "".into()]],
        );
        assert_eq!(
            t,
            "NAME        STATUS         PORTS\napp-web-1   Up 2 seconds\n"
        );
    }
}
