-- Connector packages live in the directory, so every node can load every
-- version any node installed: the manifest and the component, by digest.
CREATE TABLE package_blobs (
    digest TEXT PRIMARY KEY,
    manifest TEXT NOT NULL,
    component BYTEA NOT NULL,
    stored_at BIGINT NOT NULL
);
-- What the version can do (its descriptor's operations, as JSON), so a node
-- that has not loaded it yet still knows.
ALTER TABLE connector_packages ADD COLUMN operations TEXT;
