//! Colours, honouring `--ansi` and `NO_COLOR`.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Style {
    color: bool,
}

impl Style {
    pub fn plain() -> Style {
        Style { color: false }
    }

    /// `--ansi never|always|auto`; `auto` colours a terminal unless `NO_COLOR`
    /// is set (to anything non-empty).
    pub fn from_flag(ansi: &str, is_tty: bool) -> Style {
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        let color = match ansi {
            "always" => true,
            "never" => false,
            _ => is_tty && !no_color,
        };
        Style { color }
    }

    fn paint(&self, code: &str, s: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{s}\x1b[0m")
        } else {
            s.to_owned()
        }
    }

    pub fn green(&self, s: &str) -> String {
        self.paint("32", s)
    }
    pub fn red(&self, s: &str) -> String {
        self.paint("31", s)
    }
    pub fn yellow(&self, s: &str) -> String {
        self.paint("33", s)
    }
    pub fn blue(&self, s: &str) -> String {
        self.paint("34", s)
    }

    /// The colour of the n-th service in log prefixes (Compose's rotation).
    pub fn rotating(&self, n: usize, s: &str) -> String {
        const CODES: [&str; 10] = [
            "36", "33", "32", "35", "34", "36;1", "33;1", "32;1", "35;1", "34;1",
        ];
        self.paint(CODES[n % CODES.len()], s)
    }
}
