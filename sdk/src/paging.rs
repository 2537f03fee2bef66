//! Opaque cursors for paged listings. A cursor is the connector's own string;
//! these helpers cover the common "next offset" case (SCIM `startIndex`,
//! `?offset=`) and page tokens.

use crate::error::{Result, invalid_input};

const OFFSET_PREFIX: &str = "offset:";

/// The cursor for the page that starts at `offset`.
pub fn offset_cursor(offset: u64) -> String {
    format!("{OFFSET_PREFIX}{offset}")
}

/// The offset a cursor stands for; `None` (first page) is offset 0.
pub fn offset_from(cursor: Option<&str>) -> Result<u64> {
    match cursor {
        None => Ok(0),
        Some(c) => c
            .strip_prefix(OFFSET_PREFIX)
            .and_then(|n| n.parse().ok())
            .ok_or_else(|| invalid_input(format!("\"{c}\" is not a cursor this connector returned"))),
    }
}

/// The next offset cursor, or `None` when `fetched` items end the listing.
pub fn next_offset(offset: u64, fetched: u64, total: Option<u64>, page_size: u64) -> Option<String> {
    let next = offset + fetched;
    let more = match total {
        Some(total) => next < total,
        None => fetched >= page_size,
    };
    (more && fetched > 0).then(|| offset_cursor(next))
}

/// A page size within the application's bounds (0 means "your default").
/// Never 0: a page of size 0 would read as an empty, complete listing.
pub fn page_size(requested: u32, default: u32, max: u32) -> u32 {
    let max = max.max(1);
    match requested {
        0 => default.clamp(1, max),
        n => n.min(max),
    }
}

/// An offset cursor that also carries the highest change mark seen so far
/// (e.g. `meta.lastModified`), so that the last page of an incremental listing
/// can return the watermark of the whole listing, whatever order the
/// application pages in.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MarkedCursor {
    pub offset: u64,
    pub high_water: Option<String>,
    /// The [`page_digest`] of the page before, so that a service that ignores
    /// paging (and answers the same page again) ends the listing.
    pub last_page: Option<u64>,
}

const MARK_SEPARATOR: &str = ";hw:";
const PAGE_SEPARATOR: &str = ";pg:";

/// A digest of a page's ids, whatever their order.
pub fn page_digest<'a>(ids: impl IntoIterator<Item = &'a str>) -> u64 {
    ids.into_iter().fold(0, |acc, id| {
        // FNV-1a per id, combined by XOR: order does not matter.
        let hash = id.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3));
        acc ^ hash
    })
}

impl MarkedCursor {
    pub fn parse(cursor: Option<&str>) -> Result<Self> {
        let Some(c) = cursor else {
            return Ok(MarkedCursor::default());
        };
        let (rest, high_water) = match c.split_once(MARK_SEPARATOR) {
            Some((o, hw)) => (o, Some(hw.to_string())),
            None => (c, None),
        };
        let (offset, last_page) = match rest.split_once(PAGE_SEPARATOR) {
            Some((o, pg)) => {
                let pg = u64::from_str_radix(pg, 16)
                    .map_err(|_| invalid_input(format!("\"{c}\" is not a cursor this connector returned")))?;
                (o, Some(pg))
            }
            None => (rest, None),
        };
        Ok(MarkedCursor { offset: offset_from(Some(offset))?, high_water, last_page })
    }

    pub fn encode(&self) -> String {
        let mut out = offset_cursor(self.offset);
        if let Some(pg) = self.last_page {
            out.push_str(&format!("{PAGE_SEPARATOR}{pg:016x}"));
        }
        if let Some(hw) = &self.high_water {
            out.push_str(&format!("{MARK_SEPARATOR}{hw}"));
        }
        out
    }

    /// Keeps the highest mark (marks compare as text: use sortable ones, such
    /// as RFC 3339 timestamps in one time zone).
    pub fn observe(&mut self, mark: &str) {
        if self.high_water.as_deref().is_none_or(|hw| mark > hw) {
            self.high_water = Some(mark.to_string());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_marked_cursor_round_trips_and_keeps_the_highest_mark() {
        let mut c = MarkedCursor::parse(None).expect("first page");
        c.observe("2026-01-02T00:00:00Z");
        c.observe("2026-01-01T00:00:00Z");
        c.offset = 20;
        c.last_page = Some(page_digest(["a", "b"]));
        let again = MarkedCursor::parse(Some(&c.encode())).expect("parse");
        assert_eq!(again, c);
        assert_eq!(again.high_water.as_deref(), Some("2026-01-02T00:00:00Z"));
        assert_eq!(page_digest(["b", "a"]), page_digest(["a", "b"]), "order does not matter");
        assert_ne!(page_digest(["a"]), page_digest(["a", "b"]));
        assert!(MarkedCursor::parse(Some("garbage")).is_err());
    }

    #[test]
    fn a_page_size_is_never_zero() {
        assert_eq!(page_size(0, 0, 100), 1);
        assert_eq!(page_size(0, 50, 100), 50);
        assert_eq!(page_size(0, 500, 100), 100);
        assert_eq!(page_size(7, 50, 100), 7);
    }

    #[test]
    fn the_last_page_has_no_next_cursor() {
        assert_eq!(next_offset(0, 10, Some(25), 10), Some(offset_cursor(10)));
        assert_eq!(next_offset(20, 5, Some(25), 10), None);
        assert_eq!(next_offset(0, 10, None, 10), Some(offset_cursor(10)));
        assert_eq!(next_offset(10, 3, None, 10), None);
    }
}
