package client

import (
	"crypto/sha256"
	"errors"
	"maps"
	"reflect"
	"slices"
	"testing"
)

// recordedSnapshot returns a trusted set that took the genuine snapshot
// through the verified-state record (lazily), and the same snapshot
// decoded in full.
func recordedSnapshot(t *testing.T) (*trustedSet, *snapshotFile) {
	s := newSim(t)
	s.metaHashes = true
	s.delegate("targets", "webkit", []string{"webkit/*"}, false)
	s.delegate("targets", "openssl", []string{"openssl/*"}, false)
	s.addTarget("webkit", "webkit/a", []byte("a"), `{"bsi":{}}`)
	s.publish("targets", "webkit", "openssl")
	root, tsRaw, snap := s.get("1.root.json"), s.get("timestamp.json"), s.get("2.snapshot.json")
	full, err := newTrustedSet(root, s.now)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := full.updateTimestamp(tsRaw, sha256.Sum256(tsRaw), fromRemote); err != nil {
		t.Fatal(err)
	}
	if err := full.updateSnapshot(snap, sha256.Sum256(snap), fromRemote); err != nil {
		t.Fatal(err)
	}
	lazy, err := newTrustedSet(root, s.now)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := lazy.updateTimestamp(tsRaw, sha256.Sum256(tsRaw), fromRemote); err != nil {
		t.Fatal(err)
	}
	rec := &cachedFile{version: full.snapshot.signed.Version, expires: full.snapshot.signed.Expires}
	if err := lazy.updateSnapshotRecorded(snap, sha256.Sum256(snap), rec); err != nil {
		t.Fatal(err)
	}
	return lazy, full.snapshot
}

// TestRecordedSnapshotReadsAsDecoded: every entry a snapshot trusted
// through the record gives, one at a time, is the entry full decoding
// gives, and so is the count of files.
func TestRecordedSnapshotReadsAsDecoded(t *testing.T) {
	lazy, full := recordedSnapshot(t)
	names := slices.Sorted(maps.Keys(full.signed.Meta))
	if len(names) < 3 {
		t.Fatalf("snapshot lists %v, want targets, webkit, openssl", names)
	}
	for _, name := range append(names, "absent.json", "webkit") {
		got, err := lazy.snapshot.metaOf(name)
		if err != nil {
			t.Fatalf("metaOf(%q): %v", name, err)
		}
		if want := full.signed.Meta[name]; !reflect.DeepEqual(got, want) {
			t.Errorf("metaOf(%q) = %+v, decoded %+v", name, got, want)
		}
	}
	n, err := lazy.snapshot.count()
	if err != nil || n != len(names) {
		t.Errorf("count() = %d, %v; decoded %d", n, err, len(names))
	}
}

// TestAttackRoleDroppedAfterRecordedSnapshot: a newer snapshot that
// drops a role the trusted snapshot lists is a rollback (5.5.5), also
// when the trusted one was taken through the record and never decoded.
func TestAttackRoleDroppedAfterRecordedSnapshot(t *testing.T) {
	lazy, full := recordedSnapshot(t)
	meta := maps.Clone(full.signed.Meta)
	delete(meta, "openssl.json")
	next := &snapshotFile{signed: snapshotSigned{header: full.signed.header, Meta: meta}}
	next.signed.Version++
	var rb *RollbackError
	if err := lazy.noRollback(next); !errors.As(err, &rb) || rb.Role != "openssl" || !rb.Removed {
		t.Fatalf("noRollback = %v, want a RollbackError for openssl removed", err)
	}
}
