package manifest_test

import (
	"errors"
	"fmt"

	"github.com/bsiframework/bsi/manifest"
)

func ExampleDecode() {
	m, err := manifest.Decode([]byte(`{
		"schema": "bsi.improvement/v1",
		"id": "webkit-26.3-a",
		"title": "WebKit: use-after-free in media element",
		"platform": "macos",
		"component": "webkit",
		"applies_to": {"releases": ["26.3"]},
		"sequence": 1,
		"severity": "high",
		"advisories": ["CVE-2026-20001"],
		"requires_restart": false,
		"released": "2026-11-27T10:00:00Z",
		"status": "active"
	}`))
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(m.Component, m.Label(""), m.Severity)
	// Output: webkit 26.3 (a) high
}

func ExampleDecode_errors() {
	_, err := manifest.Decode([]byte(`{
		"schema": "bsi.improvement/v1", "id": "webkit-26.3-a", "title": "t",
		"platform": "macos", "component": "webkit",
		"applies_to": {"releases": ["26.3"]},
		"sequence": 1.5, "severity": "urgent", "requires_restart": false,
		"released": "2026-11-27T10:00:00Z", "status": "active", "status": "active"
	}`))
	var ve *manifest.ValidationError
	if errors.As(err, &ve) {
		for _, p := range ve.Problems {
			fmt.Printf("%s: %s\n", p.Path, p.Problem)
		}
	}
	// Output:
	// sequence: 1.5 is not an integer: numbers with a fraction or an exponent are not allowed
	// status: duplicate key
}

func ExampleSequenceLabel() {
	for _, seq := range []int{1, 2, 26, 27, 28, 703} {
		fmt.Println(seq, manifest.SequenceLabel(seq))
	}
	// Output:
	// 1 (a)
	// 2 (b)
	// 26 (z)
	// 27 (aa)
	// 28 (ab)
	// 703 (aaa)
}

// improvement makes an active webkit manifest for macOS 26.3.
func improvement(seq int, id string) *manifest.Manifest {
	return &manifest.Manifest{
		Schema: manifest.Schema, ID: id, Title: "WebKit fix", Platform: "macos", Component: "webkit",
		AppliesTo: manifest.AppliesTo{Releases: []string{"26.3"}},
		Sequence:  seq, Severity: manifest.SeverityHigh,
		Released: "2026-11-27T10:00:00Z", Status: manifest.StatusActive,
	}
}

func ExampleSelect() {
	a := improvement(1, "webkit-26.3-a")
	b := improvement(2, "webkit-26.3-b")
	c := improvement(3, "webkit-26.3-c")
	c.Status, c.WithdrawnReason = manifest.StatusWithdrawn, "breaks video playback"

	device := manifest.Device{Platform: "macos", Release: "26.3"}
	desired := manifest.Select(device, []*manifest.Manifest{a, b, c})
	fmt.Println(desired.ID, desired.Label(device.Release))

	device.Release = "26.4" // a full update folded the fixes in
	fmt.Println(manifest.Select(device, []*manifest.Manifest{a, b, c}))
	// Output:
	// webkit-26.3-b 26.3 (b)
	// <nil>
}

func ExampleManifest_Check() {
	m := improvement(1, "webkit-26.3-a")
	for _, d := range []manifest.Device{
		{Platform: "macos", Release: "26.3"},
		{Platform: "ios", Release: "26.3"},
		{Platform: "macos", Release: "26.2"},
	} {
		a := m.Check(d)
		fmt.Println(a.Applies, a.Reason == manifest.WrongRelease, a)
	}
	// Output:
	// true false applies
	// false false wrong platform: device has "ios", improvement is for macos
	// false true wrong release: device has "26.2", improvement is for 26.3
}

func ExampleManifest_Custom() {
	m := improvement(1, "webkit-26.3-a")
	custom, err := m.Custom() // the value of the TUF target's "custom" field
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(string(custom))
	back, err := manifest.FromCustom(custom)
	fmt.Println(back.ID, err)

	_, err = manifest.FromCustom([]byte(`{"other-tool": {}}`))
	fmt.Println(errors.Is(err, manifest.ErrNoManifest))
	// Output:
	// {"bsi":{"schema":"bsi.improvement/v1","id":"webkit-26.3-a","title":"WebKit fix","platform":"macos","component":"webkit","applies_to":{"releases":["26.3"]},"sequence":1,"severity":"high","requires_restart":false,"released":"2026-11-27T10:00:00Z","status":"active"}}
	// webkit-26.3-a <nil>
	// true
}

func ExampleManifest_Encode() {
	m := improvement(2, "webkit-26.3-b")
	m.AppliesTo.Builds = []string{"25D125"}
	m.Advisories = []string{"CVE-2026-20002"}
	m.Supersedes = []string{"webkit-26.3-a"}
	out, err := m.Encode()
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Print(string(out))
	// Output:
	// {
	//   "schema": "bsi.improvement/v1",
	//   "id": "webkit-26.3-b",
	//   "title": "WebKit fix",
	//   "platform": "macos",
	//   "component": "webkit",
	//   "applies_to": {
	//     "releases": [
	//       "26.3"
	//     ],
	//     "builds": [
	//       "25D125"
	//     ]
	//   },
	//   "sequence": 2,
	//   "severity": "high",
	//   "advisories": [
	//     "CVE-2026-20002"
	//   ],
	//   "supersedes": [
	//     "webkit-26.3-a"
	//   ],
	//   "requires_restart": false,
	//   "released": "2026-11-27T10:00:00Z",
	//   "status": "active"
	// }
}

func ExampleValidComponent() {
	for _, name := range []string{"webkit", "snapshot", "WebKit"} {
		fmt.Println(manifest.ValidComponent(name))
	}
	// Output:
	// <nil>
	// invalid component "snapshot": reserved for the snapshot role
	// invalid component "WebKit": must start with a lower-case letter
}
