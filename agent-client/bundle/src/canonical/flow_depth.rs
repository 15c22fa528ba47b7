use super::{CanonicalError, line_column};

/// Worst case, every token pays for this many levels in libyaml (about 2.5 ns each).
pub(super) const LIMIT: usize = 256;

pub(super) fn check(text: &[u8]) -> Result<(), CanonicalError> {
    let mut scan = Scan {
        text,
        depth: 0,
        line_start: 0,
    };
    let mut i = 0;
    while let Some(&c) = text.get(i) {
        let region_end = match c {
            b'\n' => {
                scan.line_start = i + 1;
                None
            }
            b'[' | b'{' => {
                scan.depth += 1;
                scan.limit(i)?;
                None
            }
            b']' | b'}' => {
                scan.depth = scan.depth.saturating_sub(1);
                None
            }
            b'"' | b'\'' if scan.at_node_start(i) => Some(scan.quoted_end(i, c)),
            b'#' | b'!'
                if i == 0
                    || matches!(
                        text.get(i - 1),
                        Some(b' ' | b'\t' | b'\r' | b'\n' | b'[' | b'{' | b',')
                    ) =>
            {
                Some(scan.token_end(i, c == b'#'))
            }
            b'|' | b'>' if scan.at_node_start(i) => Some(scan.block_scalar_end(i)),
            _ => None,
        };
        match region_end {
            Some(end) => {
                scan.region(i, end)?;
                i = end;
            }
            None => i += 1,
        }
    }
    Ok(())
}

struct Scan<'a> {
    text: &'a [u8],
    depth: usize,
    line_start: usize,
}

impl Scan<'_> {
    fn limit(&self, at: usize) -> Result<(), CanonicalError> {
        if self.depth <= LIMIT {
            return Ok(());
        }
        let (line, column) = line_column(self.text, 0, at);
        Err(CanonicalError::YamlTooDeep {
            limit: LIMIT,
            offset: at,
            line,
            column,
        })
    }

    /// Counts `text[from..to]` as a region and keeps line tracking right across it.
    fn region(&mut self, from: usize, to: usize) -> Result<(), CanonicalError> {
        let base = self.depth;
        for (at, &c) in self
            .text
            .get(from..to)
            .unwrap_or_default()
            .iter()
            .enumerate()
        {
            match c {
                b'[' | b'{' => {
                    self.depth += 1;
                    self.limit(from + at)?;
                }
                b']' | b'}' if self.depth > base => self.depth -= 1,
                b'\n' => self.line_start = from + at + 1,
                _ => {}
            }
        }
        Ok(())
    }

    fn byte(&self, at: usize) -> u8 {
        self.text.get(at).copied().unwrap_or(b'\n')
    }

    fn indent(&self, line_start: usize) -> usize {
        let rest = self.text.get(line_start..).unwrap_or_default();
        rest.iter().take_while(|&&b| b == b' ').count()
    }

    /// Where libyaml may start a node: at the start of a line or the document, after an
    /// indicator (`[ { , : - ?`), or after a tag or anchor. Liberal on purpose.
    fn at_node_start(&self, at: usize) -> bool {
        let mut j = at;
        while j > 0 && matches!(self.byte(j - 1), b' ' | b'\t' | b'\r') {
            j -= 1;
        }
        if j <= self.line_start {
            return true;
        }
        let mut k = j;
        while k > 0 && matches!(self.byte(k - 1), b' ' | b'\t' | b'\r' | b'\n') {
            k -= 1;
        }
        if k == 0 || matches!(self.byte(k - 1), b'[' | b'{' | b',' | b':' | b'-' | b'?') {
            return true;
        }
        // The previous token, if short enough to look at, may be a tag or an anchor.
        let token_start = (j.saturating_sub(256)..j).rev().find(|&t| {
            t == 0 || matches!(self.byte(t - 1), b' ' | b'\t' | b'\n' | b'[' | b'{' | b',')
        });
        token_start.is_none_or(|t| matches!(self.byte(t), b'!' | b'&'))
    }

    fn quoted_end(&self, open: usize, quote: u8) -> usize {
        let mut i = open + 1;
        while i < self.text.len() {
            let c = self.byte(i);
            // `\x` in double quotes and `''` in single quotes do not close the scalar.
            let escaped = if quote == b'"' {
                c == b'\\'
            } else {
                c == b'\'' && self.byte(i + 1) == b'\''
            };
            if escaped {
                i += 2;
            } else if c == quote {
                return i + 1;
            } else {
                i += 1;
            }
        }
        self.text.len()
    }

    /// A comment runs to the end of the line, a tag to the next blank.
    fn token_end(&self, from: usize, comment: bool) -> usize {
        let rest = self.text.get(from..).unwrap_or_default();
        let len = rest
            .iter()
            .position(|&b| b == b'\n' || (!comment && matches!(b, b' ' | b'\t' | b'\r')))
            .unwrap_or(rest.len());
        from + len
    }

    /// A block scalar's header line plus every following blank line or line indented deeper
    /// than the header line (its content is always deeper than that).
    fn block_scalar_end(&self, from: usize) -> usize {
        let indent = self.indent(self.line_start);
        let mut end = self.token_end(from, true);
        while end < self.text.len() {
            let next = end + 1;
            let line_end = self.token_end(next, true);
            let line = self.text.get(next..line_end).unwrap_or_default();
            let blank = line.iter().all(|b| matches!(b, b' ' | b'\t' | b'\r'));
            if !blank && self.indent(next) <= indent {
                break;
            }
            end = line_end;
        }
        end
    }
}
