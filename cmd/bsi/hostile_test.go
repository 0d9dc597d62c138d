package main

import (
	"context"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bsiframework/bsi/conformance/sim"
	"github.com/theupdateframework/go-tuf/v2/metadata"
)

// hostileInput is one attack on one entry point of the bsi command: the
// trusted state it starts from, how the attack is staged, the command line
// ($DIR, $STATE, $MD, $WS, $URL and $TARGETS expanded), the exit code and
// stderr substrings naming the thing at fault (parts separated by "…" must
// appear in that order). Whatever the command, the
// watched trusted state (device state directory, tuf-client metadata
// directory, publisher workspace, key and input files) must not change, and
// no temporary file may be left.
type hostileInput struct {
	name   string
	fx     fixture
	stage  func(h *hostileEnv)
	args   []string
	code   int
	stderr string
	// advances lists metadata files that a refresh may replace before it
	// meets the hostile one, and then only with the valid bytes served.
	advances []string
	// knownBug skips the entry with the bug's description; its expectation
	// stays what it should be.
	knownBug string
	// slowUnderRace skips the entry in race-detector builds (CI's time
	// budget); it runs in every build without -race.
	slowUnderRace bool
}

var (
	check   = []string{"client", "check", "$STATE"}
	install = []string{"client", "install", "$STATE", "--all"}
	refresh = []string{"tuf-client", "--metadata-dir", "$MD", "--metadata-url", "$URL", "refresh"}
	// ts and snap: what a refresh may adopt before a hostile snapshot or role.
	ts   = []string{"timestamp.json"}
	snap = []string{"timestamp.json", "snapshot.json"}
)

// withTimeout bounds each request to 500 ms, without retries. Whether a
// stall is reported as stalled or as too slow depends on the machine's load;
// both name the 500 ms bound.
func withTimeout(args []string) []string {
	return append(slices.Clip(args), "--timeout", "500ms", "--retries", "0")
}

// roleAdv: a refresh may adopt the new timestamp, snapshot, top-level
// targets and the roles named (valid, signed metadata) before the bsi
// rules refuse a target they list.
func roleAdv(roles ...string) []string {
	return append([]string{"timestamp.json", "snapshot.json", "targets.json"}, roles...)
}

// hostileInputs is the catalogue. Exit codes: 1 operational, 2 usage,
// 3 security, 4 freshness (tuf-client: 0 or 1 only).
var hostileInputs = []hostileInput{
	// Metadata served to "bsi client check" and "bsi client install".
	{name: "metadata/timestamp-endless", fx: fxDevice, stage: endless("timestamp.json"), args: check, code: 3, stderr: "timestamp"},
	{name: "metadata/snapshot-endless", fx: fxDevice, stage: republish(endless("N.snapshot.json")), args: check, code: 3, stderr: "snapshot", advances: ts},
	{name: "metadata/component-role-endless", fx: fxDevice, stage: republish(endless("N.webkit.json")), args: install, code: 3, stderr: "webkit", advances: snap},
	{name: "metadata/timestamp-deep-nesting", fx: fxDevice, stage: serveMeta("timestamp.json", deepNesting("")), args: check, code: 3, stderr: "timestamp"},
	{name: "metadata/snapshot-deep-nesting", fx: fxDevice, stage: republish(serveMeta("N.snapshot.json", deepNesting(""))), args: check, code: 3, stderr: "snapshot", advances: ts},
	{name: "metadata/timestamp-duplicate-signed", fx: fxDevice, stage: republish(duplicateSigned("timestamp.json")), args: check, code: 3, stderr: "timestamp"},
	{name: "metadata/timestamp-duplicate-signed-identical", fx: fxDevice, stage: republish(duplicateSignedIdentical("timestamp.json")), args: check, code: 3, stderr: "timestamp"},
	{name: "metadata/timestamp-duplicate-version", fx: fxDevice, stage: republish(duplicateKey("timestamp.json", "version", "99")), args: check, code: 3, stderr: "timestamp"},
	{name: "metadata/snapshot-duplicate-meta-key", fx: fxDevice, stage: republish(duplicateKey("N.snapshot.json", "meta", "{}")), args: check, code: 3, stderr: "snapshot", advances: ts},
	{name: "metadata/timestamp-version-float", fx: fxDevice, stage: republish(edit("timestamp.json", `"version":3`, `"version":3.0`)), args: check, code: 3, stderr: "timestamp"},
	{name: "metadata/timestamp-version-exponent", fx: fxDevice, stage: republish(edit("timestamp.json", `"version":3`, `"version":3e0`)), args: check, code: 3, stderr: "timestamp"},
	{name: "metadata/timestamp-version-leading-zero", fx: fxDevice, stage: republish(edit("timestamp.json", `"version":3`, `"version":03`)), args: check, code: 3, stderr: "timestamp"},
	{name: "metadata/snapshot-meta-version-minus-zero", fx: fxDevice, stage: republish(edit("timestamp.json", `"version":3}`, `"version":-0}`)), args: check, code: 3, stderr: "timestamp"},
	{name: "metadata/timestamp-version-string", fx: fxDevice, stage: republish(edit("timestamp.json", `"version":3`, `"version":"3"`)), args: check, code: 3, stderr: "timestamp"},
	{name: "metadata/timestamp-invalid-utf8", fx: fxDevice, stage: republish(edit("timestamp.json", `"_type":"timestamp"`, "\"_type\":\"timestamp\xff\xfe\"")), args: check, code: 3, stderr: "timestamp"},
	{name: "metadata/timestamp-no-signatures", fx: fxDevice, stage: republish(noSignatures("timestamp.json")), args: check, code: 3, stderr: "timestamp"},
	{name: "metadata/timestamp-wrong-key", fx: fxDevice, stage: wrongKey("timestamp"), args: check, code: 3, stderr: "timestamp"},
	{name: "metadata/snapshot-wrong-key", fx: fxDevice, stage: wrongKey("snapshot"), args: check, code: 3, stderr: "snapshot", advances: ts},
	{name: "metadata/component-role-wrong-key", fx: fxDevice, stage: wrongKey("webkit"), args: install, code: 3, stderr: "webkit", advances: snap},
	{name: "metadata/root-threshold-zero", fx: fxDevice, stage: rotateRoot(func(r *metadata.RootType) { r.Roles["timestamp"].Threshold = 0 }), args: check, code: 3, stderr: "root"},
	{name: "metadata/root-v2-signed-by-new-keys-only", fx: fxDevice, stage: rootByNewKeysOnly, args: check, code: 3, stderr: "root"},
	{name: "metadata/timestamp-rollback", fx: fxDevice, stage: resign(func(r *sim.Repo) { r.Timestamp.Signed.Version = 0 }, "timestamp"), args: check, code: 3, stderr: "timestamp"},
	{name: "metadata/snapshot-rollback", fx: fxDevice, stage: resign(func(r *sim.Repo) { r.Snapshot.Signed.Version = 0 }, "snapshot"), args: check, code: 3, stderr: "snapshot"},
	{name: "metadata/component-role-rollback", fx: fxDevice, stage: roleRollback, args: install, code: 3, stderr: "webkit", advances: ts},
	{name: "metadata/timestamp-expired", fx: fxDevice, stage: expire("timestamp"), args: check, code: 4, stderr: "timestamp"},
	{name: "metadata/snapshot-expired", fx: fxDevice, stage: expire("snapshot"), args: check, code: 4, stderr: "snapshot", advances: ts},
	{name: "metadata/component-role-expired", fx: fxDevice, stage: expire("webkit"), args: install, code: 4, stderr: "webkit", advances: snap},
	{name: "metadata/snapshot-length-mismatch", fx: fxDevice, stage: metaHashes("N.snapshot.json", appendSpace), args: check, code: 3, stderr: "snapshot", advances: ts},
	{name: "metadata/snapshot-hash-mismatch", fx: fxDevice, stage: metaHashes("N.snapshot.json", flipSignature), args: check, code: 3, stderr: "snapshot", advances: ts},
	{name: "metadata/component-role-hash-mismatch", fx: fxDevice, stage: metaHashes("N.webkit.json", flipSignature), args: check, code: 3, stderr: "webkit", advances: roleAdv()},
	{name: "metadata/delegated-role-dotdot", fx: fxDevice, stage: delegate("../evil"), args: check, code: 3, stderr: "../evil", advances: roleAdv("%2E.%2Fevil.json=../evil.json")},
	{name: "metadata/delegated-role-slash", fx: fxDevice, stage: delegate("/etc/evil"), args: check, code: 3, stderr: "/etc/evil", advances: roleAdv("%2Fetc%2Fevil.json=/etc/evil.json")},
	{name: "metadata/delegated-role-nul", fx: fxDevice, stage: delegate("web\x00kit"), args: check, code: 3, stderr: `web\x00kit`, advances: roleAdv("web%00kit.json=web\x00kit.json")},
	{name: "metadata/delegated-role-terminal-escape", fx: fxDevice, stage: delegate("web\x1b]0;owned\x07kit"), args: check, code: 3, stderr: `"web\x1b]0;owned\akit"`,
		advances: roleAdv("web%1B%5D0%3Bowned%07kit.json=web\x1b]0;owned\x07kit.json")},
	{name: "metadata/target-path-dotdot", fx: fxDevice, stage: listTarget("targets", "webkit/../../../etc/passwd.tar.gz"), args: install, code: 3, stderr: "webkit/../../../etc/passwd.tar.gz", advances: roleAdv()},
	{name: "metadata/target-path-absolute", fx: fxDevice, stage: listTarget("targets", "/etc/webkit.tar.gz"), args: install, code: 3, stderr: "/etc/webkit.tar.gz", advances: roleAdv()},
	{name: "metadata/target-path-nul", fx: fxDevice, stage: listTarget("webkit", "webkit/webkit-26.3-b\x00.tar.gz"), args: install, code: 3, stderr: "webkit-26.3-b", advances: roleAdv("webkit.json")},
	{name: "metadata/target-path-terminal-escape", fx: fxDevice, stage: listTarget("webkit", "webkit/\x1b[2J\x1b[1;1Hok.tar.gz"), args: install, code: 3, stderr: `\x1b[2J`, advances: roleAdv("webkit.json")},

	// Metadata served to "bsi tuf-client refresh" (exit 0 or 1 only).
	{name: "tuf-client/timestamp-endless", fx: fxTUF, stage: endless("timestamp.json"), args: refresh, code: 1, stderr: "timestamp"},
	{name: "tuf-client/root-v2-deep-nesting", fx: fxTUF, stage: serveMeta("2.root.json", deepNesting("")), args: refresh, code: 1, stderr: "root"},
	{name: "tuf-client/root-v2-endless", fx: fxTUF, stage: endless("2.root.json"), args: refresh, code: 1, stderr: "root"},
	{name: "tuf-client/timestamp-duplicate-signed", fx: fxTUF, stage: tufBump(duplicateSigned("timestamp.json")), args: refresh, code: 1, stderr: "timestamp"},
	{name: "tuf-client/timestamp-version-leading-zero", fx: fxTUF, stage: tufBump(edit("timestamp.json", `"version":2`, `"version":02`)), args: refresh, code: 1, stderr: "timestamp"},
	{name: "tuf-client/snapshot-wrong-key", fx: fxTUF, stage: wrongKey("snapshot"), args: refresh, code: 1, stderr: "snapshot", advances: ts},
	{name: "tuf-client/targets-rollback", fx: fxTUF, stage: targetsRollback, args: refresh, code: 1, stderr: "targets", advances: snap},
	{name: "tuf-client/targets-expired", fx: fxTUF, stage: expire("targets"), args: refresh, code: 1, stderr: "targets", advances: snap},
	{name: "tuf-client/timestamp-invalid-utf8", fx: fxTUF, stage: tufBump(edit("timestamp.json", `"_type":"timestamp"`, "\"_type\":\"time\xc0stamp\"")), args: refresh, code: 1, stderr: "timestamp"},

	// HTTP responses of the repository.
	{name: "http/timestamp-content-length-short", fx: fxDevice, stage: republish(httpOverride("timestamp.json", contentLength(-20))), args: check, code: 1, stderr: "timestamp.json"},
	{name: "http/timestamp-content-length-long", fx: fxDevice, stage: republish(httpOverride("timestamp.json", contentLength(+20))), args: check, code: 1, stderr: "timestamp"},
	{name: "http/snapshot-closed-midway", fx: fxDevice, stage: republish(httpOverride("N.snapshot.json", closeMidway)), args: check, code: 1, stderr: "snapshot", advances: ts},
	{name: "http/timestamp-html-error-page", fx: fxDevice, stage: httpOverride("timestamp.json", htmlPage), args: check, code: 3, stderr: "timestamp"},
	{name: "http/timestamp-redirect-other-host", fx: fxDevice, stage: httpOverride("timestamp.json", redirectOtherHost), args: check, code: 1, stderr: "timestamp"},
	{name: "http/timestamp-redirect-loop", fx: fxDevice, stage: httpOverride("timestamp.json", redirectLoop), args: check, code: 1, stderr: "timestamp"},
	{name: "http/timestamp-stall", fx: fxDevice, stage: httpOverride("timestamp.json", stall), args: withTimeout(check), code: 1, stderr: "timestamp.json: …500ms"},
	{name: "http/snapshot-drip", fx: fxDevice, stage: republish(httpOverride("N.snapshot.json", drip)), args: withTimeout(check), code: 1, stderr: "snapshot.json: …500ms", advances: ts},
	{name: "http/payload-stall", fx: fxDevice, stage: payloadStall, args: withTimeout(install), code: 1, stderr: "webkit-26.3-b.tar.gz: …500ms"},
	{name: "http/timestamp-500", fx: fxDevice, stage: status(500), args: check, code: 1, stderr: "timestamp"},
	{name: "http/timestamp-404", fx: fxDevice, stage: status(404), args: check, code: 1, stderr: "timestamp"},
	{name: "http/payload-500", fx: fxDevice, stage: payloadStatus(500), args: install, code: 1, stderr: "webkit-26.3-b"},
	{name: "http/payload-404", fx: fxDevice, stage: payloadStatus(404), args: install, code: 1, stderr: "webkit-26.3-b"},
}

func TestHostileInputs(t *testing.T) {
	all := append(append(append(append(slicesClip(hostileInputs), hostileArchives...), hostileManifests...), hostileCLI...), hostileStdout...)
	all = append(all, hostileFleet...)
	if len(all) < 60 {
		t.Errorf("the catalogue has %d entries, want at least 60", len(all))
	}
	// Entries run eight at a time: most of their time is spent waiting
	// (retries, servers, other processes), and t.Parallel would limit them
	// to GOMAXPROCS.
	sem := make(chan struct{}, 8)
	var wg sync.WaitGroup
	seen := map[string]bool{}
	for _, in := range all {
		if seen[in.name] {
			t.Errorf("duplicate entry name %s", in.name)
		}
		seen[in.name] = true
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			t.Run(in.name, func(t *testing.T) {
				if in.knownBug != "" && os.Getenv("BSI_HOSTILE_KNOWN_BUGS") == "" {
					t.Skip("known bug (BSI_HOSTILE_KNOWN_BUGS=1 runs it): " + in.knownBug)
				}
				if in.slowUnderRace && raceDetector {
					t.Skip("inflates 1 GiB: about 40 s under the race detector; runs without -race")
				}
				runHostile(t, in)
			})
		}()
	}
	wg.Wait()
}

func runHostile(t *testing.T, in hostileInput) {
	h := newHostileEnv(t, in.fx)
	if in.stage != nil {
		in.stage(h)
	}
	before := h.treeState()
	args := make([]string, len(in.args))
	for i, a := range in.args {
		args[i] = h.expand(a)
	}
	// A hang guard only: every entry is expected to end in well under a second.
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
	defer cancel()
	code, out, errOut := h.bsi(ctx, args...)
	if ctx.Err() != nil {
		t.Errorf("bsi %s hung until the guard's deadline", strings.Join(args, " "))
	}
	t.Logf("bsi %s: exit %d\n%s", strings.Join(in.args, " "), code, errOut)
	want := h.expand(in.stderr)
	if code != in.code || !containsInOrder(errOut, strings.Split(want, "…")) {
		t.Errorf("bsi %s:\nexit %d, stderr:\n%s\nwant exit %d and stderr mentioning %q\nstdout:\n%s",
			strings.Join(args, " "), code, errOut, in.code, want, out)
	}
	if strings.Contains(errOut, "panic") || strings.Contains(errOut, "goroutine ") {
		t.Errorf("stderr shows a panic:\n%s", errOut)
	}
	// Names from the repository or the input are printed escaped, on
	// stdout as on stderr: raw control or format characters would let a
	// hostile file write to the user's terminal.
	for _, o := range []struct{ name, text string }{{"stdout", out}, {"stderr", errOut}} {
		if i := rawTerminalRune(o.text); i >= 0 {
			t.Errorf("%s holds a raw control or format character at byte %d:\n%q", o.name, i, o.text)
		}
	}
	h.compareState(before, h.treeState(), in.advances)
	for _, d := range h.watch {
		assertNoTemps(t, d)
	}
	if h.state != "" && in.code > 2 {
		h.wantLastCheckClass(in.code)
	}
}

// containsInOrder reports whether s holds every part, in order.
func containsInOrder(s string, parts []string) bool {
	for _, p := range parts {
		i := strings.Index(s, p)
		if i < 0 {
			return false
		}
		s = s[i+len(p):]
	}
	return true
}

// wantLastCheckClass checks that the device journal recorded the failure
// with the class of the exit code.
func (h *hostileEnv) wantLastCheckClass(code int) {
	b, err := os.ReadFile(h.state + "/installed.json")
	if err != nil {
		h.t.Fatal(err)
	}
	class := map[int]string{3: `"class":"security"`, 4: `"class":"freshness"`}[code]
	if !strings.Contains(strings.ReplaceAll(string(b), " ", ""), class) {
		h.t.Errorf("installed.json does not record the failure as %s:\n%s", class, b)
	}
}
