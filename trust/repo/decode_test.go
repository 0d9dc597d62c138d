package repo

import (
	"bytes"
	"encoding/json"
	"os"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/theupdateframework/go-tuf/v2/metadata"
)

// TestDecodeTargetsMatchesGoTUF: every targets-family role file of a
// workspace, and variants with fields go-tuf keeps or rejects, decode to
// what metadata.FromBytes gives.
func TestDecodeTargetsMatchesGoTUF(t *testing.T) {
	f := binnedRepo(t, 3)
	bin := f.ws.roleForTarget("webkit", "webkit/webkit-001.tar.gz")
	for _, role := range []string{"targets", "webkit", bin} {
		data, err := os.ReadFile(f.ws.rolePath(role))
		if err != nil {
			t.Fatal(err)
		}
		for name, variant := range map[string][]byte{
			"as written":           data,
			"unknown top field":    bytes.Replace(data, []byte(`{"signatures"`), []byte(`{"x-extra":1,"signatures"`), 1),
			"unknown signed field": bytes.Replace(data, []byte(`"_type"`), []byte(`"x-extra":[1],"_type"`), 1),
			"unknown target field": bytes.Replace(data, []byte(`"length"`), []byte(`"x-extra":"y","length"`), 1),
			"no hashes":            bytes.Replace(data, []byte(`"hashes"`), []byte(`"hashes":{},"x"`), 1),
			"wrong type":           bytes.Replace(data, []byte(`"_type":"targets"`), []byte(`"_type":"snapshot"`), 1),
			"trailing data":        append(bytes.Clone(data), `{}`...),
			"null targets":         bytes.Replace(data, []byte(`"targets":{`), []byte(`"targets":null,"y":{`), 1),
		} {
			checkDecodeTargets(t, role+" "+name, variant)
		}
	}
}

func checkDecodeTargets(t *testing.T, name string, data []byte) {
	t.Helper()
	want, wantErr := new(targetsMeta).FromBytes(data)
	got, err := decodeTargets(data)
	if (err == nil) != (wantErr == nil) {
		t.Fatalf("%s: decodeTargets error %v, FromBytes error %v", name, err, wantErr)
	}
	if d := cmp.Diff(want, got, cmpopts.IgnoreUnexported(metadata.Key{})); d != "" {
		t.Fatalf("%s: decodeTargets differs from FromBytes (-want +got):\n%s", name, d)
	}
}

// FuzzDecodeTargets: decodeTargets and metadata.FromBytes agree on any
// input.
func FuzzDecodeTargets(f *testing.F) {
	f.Add([]byte(`{"signatures":[],"signed":{"_type":"targets","expires":"2030-01-01T00:00:00Z","spec_version":"1.0.31","targets":{"a/b.tar":{"hashes":{"sha256":"00"},"length":1,"custom":{"bsi":{}}}},"version":1}}`))
	f.Add([]byte(`{"signatures":[{"keyid":"ab","sig":"cd"},{"keyid":"ab","sig":"cd"}],"signed":{"_type":"targets","targets":{}}}`))
	f.Add([]byte(`{"signed":{"_type":"targets","targets":{},"delegations":{"keys":{},"roles":[]}}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		checkDecodeTargets(t, "fuzz", data)
	})
}

// FuzzPlainKeysASCII: the one-pass check of field-name spelling refuses
// exactly what counting every field name in the data and in its
// lower-cased copy refuses.
func FuzzPlainKeysASCII(f *testing.F) {
	for _, s := range []string{
		`{"signatures":[],"signed":{"_type":"targets","targets":{"a/B.tar":{"length":1,"hashes":{"sha256":"00"},"custom":{"T":"Title"}}}}}`,
		`{"Signed":{}}`, `{"signed":{"VERSION":1}}`, `"path_hash_PREFIXES"`, `"x":"Keyids"`, `\"Name\"`,
		`"Sig"Sig"`, `"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"`, `"`, `A"`, `"Succinct_Roles"`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if !ascii(data) {
			return
		}
		// Counting finds quoted names that do not share a quote; in data
		// that is not JSON, two may ("Sig"sig" holds "Sig" and "sig"), and
		// there plainKeysASCII may refuse more (the decode refuses such
		// data anyway). It never takes what counting refuses.
		if got, want := plainKeysASCII(data), plainKeysFold(data); got != want && (got || json.Valid(data)) {
			t.Fatalf("plainKeysASCII(%q) = %v, counting says %v", data, got, want)
		}
	})
}
