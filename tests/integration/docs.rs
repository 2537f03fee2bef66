//! The connector guide quotes the example crate; these must stay identical so
//! the guide stays true (CI builds and tests the crate itself).

#[test]
fn docs_guide_matches_the_example_crate() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let guide = std::fs::read_to_string(root.join("docs/connectors.md")).expect("docs/connectors.md");
    let mut quoted = 0;
    let mut rest = guide.as_str();
    while let Some(start) = rest.find("title=\"") {
        let after = &rest[start + 7..];
        let end = after.find('"').expect("closing quote");
        let path = &after[..end];
        let body_start = after.find('\n').expect("fence line") + 1;
        let body_end = after[body_start..].find("```").expect("closing fence") + body_start;
        let quoted_text = &after[body_start..body_end];
        let file = std::fs::read_to_string(root.join(path)).unwrap_or_else(|e| panic!("{path}: {e}"));
        if quoted_text != file {
            let line = quoted_text.lines().zip(file.lines()).position(|(a, b)| a != b).map_or(0, |i| i + 1);
            panic!(
                "docs/connectors.md quotes {path}, which has changed (first difference at line {line} of the file): run `python3 docs/sync_quotes.py`"
            );
        }
        quoted += 1;
        rest = &after[body_end..];
    }
    assert_eq!(quoted, 3, "the guide quotes the manifest, the code and the tests");
}
