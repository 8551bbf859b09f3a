//! Text-level stop strings: holds back generated text that could be the start of a stop
//! string, so a stop string split across tokens is caught and never emitted.

/// Watches the generated text for any of a set of stop strings.
#[derive(Debug, Default)]
pub struct StopMatcher {
    stops: Vec<String>,
    pending: String,
}

/// What [`StopMatcher::push`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopScan {
    /// No stop string yet; the text handed out is final.
    Continue,
    /// A stop string was completed; the text before it was handed out, nothing after.
    Stopped,
}

impl StopMatcher {
    /// A matcher for `stops` (empty strings are ignored).
    pub fn new(stops: &[String]) -> Self {
        Self {
            stops: stops.iter().filter(|s| !s.is_empty()).cloned().collect(),
            pending: String::new(),
        }
    }

    /// Adds newly decoded text; calls `emit` with the text that can no longer be part of a
    /// stop string.
    pub fn push(&mut self, text: &str, mut emit: impl FnMut(&str)) -> StopScan {
        if self.stops.is_empty() {
            if !text.is_empty() {
                emit(text);
            }
            return StopScan::Continue;
        }
        self.pending.push_str(text);
        let earliest = self
            .stops
            .iter()
            .filter_map(|s| self.pending.find(s.as_str()))
            .min();
        if let Some(at) = earliest {
            if at > 0 {
                emit(&self.pending[..at]);
            }
            self.pending.clear();
            return StopScan::Stopped;
        }
        let keep = self.held_back();
        let cut = self.pending.len() - keep;
        if cut > 0 {
            emit(&self.pending[..cut]);
            self.pending.drain(..cut);
        }
        StopScan::Continue
    }

    /// Hands out whatever is held back (generation ended for another reason).
    pub fn finish(&mut self, mut emit: impl FnMut(&str)) {
        if !self.pending.is_empty() {
            emit(&self.pending);
            self.pending.clear();
        }
    }

    /// Length of the longest suffix of the pending text that begins some stop string.
    fn held_back(&self) -> usize {
        let p = self.pending.as_str();
        let mut best = 0;
        for stop in &self.stops {
            let max = stop.len().saturating_sub(1).min(p.len());
            for len in (best + 1..=max).rev() {
                let start = p.len() - len;
                if p.is_char_boundary(start) && stop.starts_with(&p[start..]) {
                    best = len;
                    break;
                }
            }
        }
        best
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `pieces` and returns (emitted text, whether it stopped, at which piece).
    fn feed(stops: &[&str], pieces: &[&str]) -> (String, Option<usize>) {
        let stops: Vec<String> = stops.iter().map(|s| s.to_string()).collect();
        let mut m = StopMatcher::new(&stops);
        let mut out = String::new();
        for (i, p) in pieces.iter().enumerate() {
            if m.push(p, |t| out.push_str(t)) == StopScan::Stopped {
                return (out, Some(i));
            }
        }
        m.finish(|t| out.push_str(t));
        (out, None)
    }

    #[test]
    fn a_stop_string_split_across_tokens_is_caught_and_not_emitted() {
        assert_eq!(
            feed(&["\nUser:"], &["Hi", " there\n", "Us", "er:", " more"]),
            ("Hi there".into(), Some(3))
        );
    }

    #[test]
    fn text_that_only_looks_like_a_stop_prefix_comes_out_later() {
        assert_eq!(
            feed(&["STOP"], &["a S", "T", "x", "yz"]),
            ("a STxyz".into(), None)
        );
    }

    #[test]
    fn the_earliest_of_several_stop_strings_wins() {
        assert_eq!(feed(&["cd", "b"], &["abcd"]), ("a".into(), Some(0)));
        assert_eq!(
            feed(&["</s>", "###"], &["x ##", "# y </s>"]),
            ("x ".into(), Some(1))
        );
    }

    #[test]
    fn no_stops_pass_everything_through_and_multibyte_text_is_cut_on_boundaries() {
        assert_eq!(feed(&[], &["a", "b"]), ("ab".into(), None));
        assert_eq!(feed(&["éé!"], &["aé", "é", "b"]), ("aééb".into(), None));
        assert_eq!(feed(&["😀x"], &["1😀", "x"]), ("1".into(), Some(1)));
    }

    #[test]
    fn a_stop_at_the_very_start_emits_nothing() {
        assert_eq!(
            feed(&["<end>"], &["<e", "nd>", "after"]),
            (String::new(), Some(1))
        );
    }
}
