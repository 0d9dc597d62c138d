package client

import (
	"bytes"
	"encoding/json"
	"maps"
	"reflect"
	"testing"
)

// FuzzDecodeEntry checks that decodeEntry reads every valid JSON target
// entry as encoding/json does (the decoder of full verification), case
// folded and repeated keys included, and refuses what it refuses.
func FuzzDecodeEntry(f *testing.F) {
	for _, s := range []string{
		`{"custom":{"bsi":{"id":"a"}},"hashes":{"sha256":"00"},"length":3}`,
		`{"length":1,"Length":2,"hashes":{}}`,
		`{"\u006cength":7,"hashes":{"a":"b"},"hashes":{"c":"d"}}`,
		`{"custom":null,"length":0}`,
		`{"custom":1,"custom":[1,2],"x":{"length":9}}`,
		`null`, `[]`, `{"length":"x"}`, `{"hashes":[]}`, `{"CUSTOM":{}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		if !json.Valid(raw) {
			return // decodeEntry only ever reads verified files
		}
		var want *targetEntry
		wantErr := json.Unmarshal(raw, &want)
		got, err := decodeEntry(raw)
		if (err != nil) != (wantErr != nil) {
			t.Fatalf("%s: decodeEntry error %v, encoding/json error %v", raw, err, wantErr)
		}
		if err != nil {
			return
		}
		if (got == nil) != (want == nil) {
			t.Fatalf("%s: decodeEntry %+v, encoding/json %+v", raw, got, want)
		}
		if got == nil {
			return
		}
		if got.Length != want.Length || !maps.Equal(got.Hashes, want.Hashes) || (got.Hashes == nil) != (want.Hashes == nil) ||
			!bytes.Equal(got.Custom, want.Custom) || (got.Custom == nil) != (want.Custom == nil) {
			t.Fatalf("%s: decodeEntry %+v, encoding/json %+v", raw, got, want)
		}
	})
}

// FuzzCheckedTargetsMatchDecode checks that a large role, whose entries
// are checked one by one and not kept (targetsChecked), is refused
// exactly when the decode of a small role into a map (targetsSigned, then
// checkTargets) refuses it, and has the same header and delegations. Both
// are then verified, which canonicalizes the signed part and so refuses
// what canonical JSON cannot hold (a repeated key, which the map keeps
// once and the entries one by one see twice): such a part is refused
// either way, and the property holds for what canonicalize accepts.
func FuzzCheckedTargetsMatchDecode(f *testing.F) {
	for _, s := range []string{
		`{"_type":"targets","version":1,"expires":"2030-01-01T00:00:00Z","targets":{"a":{"length":1,"hashes":{"sha256":"00"}}}}`,
		`{"_type":"targets","version":1,"expires":"2030-01-01T00:00:00Z","targets":{"a":{"length":-1,"hashes":{"sha256":"00"}}}}`,
		`{"_type":"targets","version":1,"expires":"2030-01-01T00:00:00Z","targets":{"a":{"length":1}}}`,
		`{"_type":"targets","version":1,"expires":"2030-01-01T00:00:00Z","targets":null}`,
		`{"_type":"targets","version":1,"expires":"2030-01-01T00:00:00Z","targets":[]}`,
		`{"_type":"targets","version":1,"expires":"2030-01-01T00:00:00Z","targets":{"a":null}}`,
		`{"_type":"targets","version":1,"expires":"2030-01-01T00:00:00Z","Targets":{"a":{"length":1,"hashes":{"x":"y"}}},"targets":{"b":{"length":2,"hashes":{"x":"y"}}}}`,
		`{"_type":"targets","version":1,"expires":"2030-01-01T00:00:00Z","targets":{"a":{"length":1,"hashes":{"x":"y"}},"a":{"length":-1,"hashes":{"x":"y"}}}}`,
		`{"_type":"targets","version":1,"expires":"2030-01-01T00:00:00Z","targets":{"\u0061":{"LENGTH":"1","hashes":{"x":"y"}}}}`,
		`{"_type":"targets","version":2,"expires":"2030-01-01T00:00:00Z","targets":{},"delegations":{"keys":{},"roles":[{"name":"x","keyids":[],"threshold":1,"paths":["*"]}]}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, signed []byte) {
		if !json.Valid(signed) {
			return // decode refuses the envelope before either is read
		}
		if _, err := canonicalize(nil, signed); err != nil {
			return // verification refuses it after either
		}
		var full targetsSigned
		wantErr := json.Unmarshal(signed, &full)
		if wantErr == nil {
			wantErr = checkTargets("r", &full)
		}
		got := targetsChecked{Targets: checkedEntries{role: "r"}}
		err := json.Unmarshal(signed, &got)
		if got.Targets.merged() {
			return // updateTargets decodes it in full
		}
		if err == nil {
			err = got.Targets.err
		}
		if err == nil {
			err = checkDelegations("r", got.Delegations)
		}
		if (err != nil) != (wantErr != nil) {
			t.Fatalf("%s: checked one by one: %v; decoded in full: %v", signed, err, wantErr)
		}
		if err != nil {
			return
		}
		if !reflect.DeepEqual(got.header, full.header) || !reflect.DeepEqual(got.Delegations, full.Delegations) {
			t.Fatalf("%s: checked one by one %+v; decoded in full %+v", signed, got, full)
		}
	})
}
