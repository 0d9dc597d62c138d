package main

import (
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"

	"github.com/theupdateframework/go-tuf/v2/metadata"

	"github.com/bsiframework/bsi/conformance/sim"
)

// Archives given to "bsi repo add" and served to "bsi client install".
var hostileArchives = slices.Concat(
	archiveBoth("absolute-path", lazy(func() []byte { return tarGz(reg("/etc/passwd", "root::0:0::/:/bin/sh\n")) }), "/etc/passwd", "/etc/passwd"),
	archiveBoth("dotdot-path", lazy(func() []byte { return tarGz(reg("lib/../../../evil", "x")) }), "lib/../../../evil", "lib/../../../evil"),
	archiveBoth("symlink-out", lazy(func() []byte { return tarGz(symlink("lib/etc", "../../../../etc")) }), "lib/etc", "lib/etc"),
	archiveBoth("file-through-symlink", lazy(func() []byte { return tarGz(symlink("lib/l", "sub"), reg("lib/sub/x", "x"), reg("lib/l/evil", "x")) }),
		"lib/l/evil", "lib/l/evil"),
	archiveBoth("hardlink-out", lazy(func() []byte { return tarGz(hardlink("lib/shadow", "/etc/shadow")) }), "lib/shadow", "lib/shadow"),
	archiveBoth("device-file", lazy(func() []byte { return tarGz(device("lib/mem")) }), "lib/mem", "lib/mem"),
	archiveBoth("duplicate-entries", lazy(func() []byte { return tarGz(reg("lib/webkit.txt", "a"), reg("lib/webkit.txt", "b")) }),
		"lib/webkit.txt", "lib/webkit.txt"),
	archiveBoth("huge-declared-size", lazy(hugeDeclared), "lib/webkit.txt", "lib/webkit.txt"),
	archiveBoth("truncated", lazy(truncated), "p.tar.gz", "webkit-26.3-b"),
	slowUnderRace(archiveBoth("gzip-bomb", lazy(gzipBomb), "over the limit", "webkit-26.3-b")),
	[]hostileInput{
		// setuid bits are dropped on extraction (install reduces modes to
		// 0644/0755); "repo add" refuses them outright.
		archiveAdd("setuid", lazy(func() []byte { return tarGz(setuid("lib/helper")) }), "lib/helper"),
		{name: "archive/install-setuid-dropped", fx: fxDevice, stage: setuidInstalled, args: []string{"client", "status", "$STATE"}},
	},
)

// lazy builds an archive on first use (not when the package starts).
func lazy(f func() []byte) func() []byte { return sync.OnceValue(f) }

// slowUnderRace marks entries that inflate 1 GiB: about 40 s of CPU under
// the race detector, 2 s without. They run in builds without -race.
func slowUnderRace(ins []hostileInput) []hostileInput {
	for i := range ins {
		ins[i].slowUnderRace = true
	}
	return ins
}

// archiveBoth is the archive given to "bsi repo add" and served, listed
// and validly signed, to "bsi client install".
func archiveBoth(attack string, archive func() []byte, addFault, installFault string) []hostileInput {
	return []hostileInput{archiveAdd(attack, archive, addFault), {
		name: "archive/install-" + attack, fx: fxDevice, args: install, code: 3, stderr: installFault,
		stage: func(h *hostileEnv) { h.listHostile(archive()); h.must(check...) },
	}}
}

func archiveAdd(attack string, archive func() []byte, fault string) hostileInput {
	return hostileInput{
		name: "archive/repo-add-" + attack, fx: fxWorkspace, code: 1, stderr: fault,
		stage: func(h *hostileEnv) { h.writeManifest(hostileManifest(2)); h.write("p.tar.gz", archive()) },
		args:  []string{"repo", "add", "$WS", "--manifest", "$DIR/webkit-26.3-b.json", "--payload", "$DIR/p.tar.gz", "--key", "$DIR/webkit.key"},
	}
}

// setuidInstalled installs an archive with a setuid file and checks that
// the installed file lost the bit; the entry's own command is a status.
func setuidInstalled(h *hostileEnv) {
	h.listHostile(tarGz(setuid("lib/helper"), reg("lib/webkit.txt", "b\n")))
	h.must(install...)
	info, err := os.Stat(h.state + "/root/webkit/current/lib/helper")
	if err != nil {
		h.t.Fatal(err)
	}
	if info.Mode()&(os.ModeSetuid|os.ModeSetgid|0o022) != 0 {
		h.t.Errorf("installed file has mode %v", info.Mode())
	}
}

// Manifests given to "bsi manifest validate" and "bsi repo add".
var hostileManifests = slices.Concat(
	manifestBoth("duplicate-id", manifestEdit(`"id": "webkit-26.3-b",`, `"id": "webkit-26.3-b", "id": "webkit-26.3-z",`), "id"),
	manifestBoth("duplicate-sequence", manifestEdit(`"sequence": 2,`, `"sequence": 2, "sequence": 1,`), "sequence"),
	manifestBoth("unknown-field", manifestEdit(`"title":`, `"install_script": "curl evil | sh", "title":`), "install_script"),
	manifestBoth("huge", manifestEdit(`"title": "fix"`, `"title": "`+strings.Repeat("A", 70<<10)+`"`), "65536"),
	manifestBoth("deep-nesting", manifestEdit(`"title": "fix"`, `"title": `+strings.Repeat("[", 10000)+strings.Repeat("]", 10000)), "title"),
	manifestBoth("id-dotdot", manifestEdit(`"id": "webkit-26.3-b"`, `"id": "../../etc/webkit"`), "id"),
	manifestBoth("id-nul", manifestEdit(`"id": "webkit-26.3-b"`, `"id": "webkit-26.3-b\u0000"`), "id"),
	manifestBoth("id-slash", manifestEdit(`"id": "webkit-26.3-b"`, `"id": "webkit/26.3-b"`), "id"),
	manifestBoth("sequence-float", manifestEdit(`"sequence": 2,`, `"sequence": 2.0,`), "sequence"),
	manifestBoth("invalid-utf8", manifestEdit(`"title": "fix"`, "\"title\": \"fix\xff\""), "UTF-8"),
	[]hostileInput{
		{name: "manifest/repo-add-sequence-down", fx: fxWorkspace, code: 1, stderr: "sequence",
			stage: writeAddInputs(manifestEdit(`"sequence": 2,`, `"sequence": 1,`)), args: addArgs},
		{name: "manifest/repo-add-id-taken", fx: fxWorkspace, code: 1, stderr: "webkit-26.3-a",
			stage: writeAddInputs(manifestEdit(`"id": "webkit-26.3-b"`, `"id": "webkit-26.3-a"`)), args: addArgs},
		{name: "manifest/repo-add-component-not-delegated", fx: fxWorkspace, code: 1, stderr: "safari",
			stage: writeAddInputs(manifestEdit(`"component": "webkit"`, `"component": "safari"`)), args: addArgs},
	},
)

var addArgs = []string{"repo", "add", "$WS", "--manifest", "$DIR/m.json", "--payload", "$DIR/p.tar.gz", "--key", "$DIR/webkit.key"}

// manifestEdit returns webkit-26.3-b's manifest, as "bsi manifest new"
// writes it, with old replaced by new.
func manifestEdit(old, new string) func(h *hostileEnv) []byte {
	return func(h *hostileEnv) []byte {
		m := hostileManifest(2)
		b, err := m.Encode()
		if err != nil {
			h.t.Fatal(err)
		}
		if !strings.Contains(string(b), old) {
			h.t.Fatalf("stage: manifest has no %q:\n%s", old, b)
		}
		return []byte(strings.Replace(string(b), old, new, 1))
	}
}

func writeAddInputs(m func(h *hostileEnv) []byte) func(*hostileEnv) {
	return func(h *hostileEnv) {
		h.write("m.json", m(h))
		h.write("p.tar.gz", hostilePayload(hostileManifest(2)))
	}
}

func manifestBoth(attack string, m func(h *hostileEnv) []byte, fault string) []hostileInput {
	return []hostileInput{
		{name: "manifest/validate-" + attack, code: 1, stderr: "$DIR/m.json: …" + fault, stage: writeAddInputs(m),
			args: []string{"manifest", "validate", "$DIR/m.json"}},
		{name: "manifest/repo-add-" + attack, fx: fxWorkspace, code: 1, stderr: "$DIR/m.json: manifest: invalid manifest: …" + fault,
			stage: writeAddInputs(m), args: addArgs},
	}
}

// Key files given to "bsi repo sign" and "bsi keys show", and flags.
var hostileCLI = slices.Concat(
	keyFile("truncated-pem", func(h *hostileEnv) []byte {
		b, _ := os.ReadFile(h.path("webkit.key"))
		return b[:len(b)/2]
	}, 1, "bad.key"),
	keyFile("wrong-pem-type", func(h *hostileEnv) []byte {
		return []byte(strings.ReplaceAll(string(mustRead(h, "webkit.key")), "PRIVATE KEY", "CERTIFICATE"))
	}, 1, "CERTIFICATE"),
	keyFile("rsa-1024", func(*hostileEnv) []byte { return rsa1024() }, 1, "1024"),
	keyFile("ecdsa-p384", func(*hostileEnv) []byte { return p384() }, 1, "P-384"),
	keyFile("two-pem-blocks", func(h *hostileEnv) []byte {
		return append(mustRead(h, "webkit.key"), mustRead(h, "targets.key")...)
	}, 1, "bad.key"),
	[]hostileInput{
		{name: "key/repo-sign-wrong-password", fx: fxWorkspace, code: 1, stderr: "password",
			stage: func(h *hostileEnv) {
				encryptedKey(h, "enc.key")
				h.env[passwordEnv] = "wrong password"
				pendingTargets(h)
			},
			args: []string{"repo", "sign", "$WS", "--key", "$DIR/enc.key"}},
		{name: "key/keys-show-wrong-password", code: 1, stderr: "$DIR/enc.key…password",
			stage: func(h *hostileEnv) { encryptedKey(h, "enc.key"); h.env[passwordEnv] = "wrong password" },
			args:  []string{"keys", "show", "$DIR/enc.key"}},
		{name: "key/repo-sign-encrypted-no-password-no-terminal", fx: fxWorkspace, code: 1, stderr: passwordEnv,
			stage: func(h *hostileEnv) { encryptedKey(h, "enc.key"); pendingTargets(h) },
			args:  []string{"repo", "sign", "$WS", "--key", "$DIR/enc.key"}},
		{name: "key/keys-show-scrypt-parameters-dos", fx: fxWorkspace, code: 1, stderr: "scrypt",
			stage: func(h *hostileEnv) { h.write("bad.key", scryptBomb()); h.env[passwordEnv] = "right password" },
			args:  []string{"keys", "show", "$DIR/bad.key"}},
		{name: "key/repo-sign-scrypt-parameters-dos", fx: fxWorkspace, code: 1, stderr: "scrypt",
			stage: func(h *hostileEnv) {
				h.write("bad.key", scryptBomb())
				h.env[passwordEnv] = "right password"
				pendingTargets(h)
			},
			args: []string{"repo", "sign", "$WS", "--key", "$DIR/bad.key"}},
		{name: "key/keys-show-encrypted-no-password-no-terminal", code: 1, stderr: passwordEnv,
			stage: func(h *hostileEnv) { encryptedKey(h, "enc.key") }, args: []string{"keys", "show", "$DIR/enc.key"}},
		{name: "key/repo-sign-directory", fx: fxWorkspace, code: 1, stderr: "$DIR/keydir",
			stage: func(h *hostileEnv) { os.Mkdir(h.path("keydir"), 0o755); pendingTargets(h) },
			args:  []string{"repo", "sign", "$WS", "--key", "$DIR/keydir"}},
		{name: "key/keys-show-directory", code: 1, stderr: "$DIR",
			args: []string{"keys", "show", "$DIR"}},
		{name: "key/repo-sign-missing-file", fx: fxWorkspace, code: 1, stderr: "$DIR/absent.key",
			args: []string{"repo", "sign", "$WS", "--key", "$DIR/absent.key"}},

		// Flags and arguments.
		{name: "flags/client-check-unknown-flag", fx: fxDevice, args: []string{"client", "check", "$STATE", "--insecure"}, code: 2, stderr: "insecure"},
		{name: "flags/client-init-missing-value", args: []string{"client", "init", "$DIR/s", "--root"}, code: 2, stderr: "root"},
		{name: "key/repo-sign-public-as-private", fx: fxWorkspace, code: 1, stderr: "public",
			stage: pendingTargets, args: []string{"repo", "sign", "$WS", "--key", "$DIR/webkit.key.pub"}},
		{name: "flags/client-run-negative-interval", fx: fxDevice, args: []string{"client", "run", "$STATE", "--interval", "-1h"}, code: 2, stderr: "interval"},
		{name: "flags/repo-init-negative-threshold", fx: fxWorkspace,
			args: []string{"repo", "init", "$DIR/ws2", "--root-key", "$DIR/root.key.pub", "--root-threshold", "-1",
				"--targets-key", "$DIR/targets.key.pub", "--snapshot-key", "$DIR/snapshot.key", "--timestamp-key", "$DIR/timestamp.key"},
			code: 1, stderr: "threshold -1"},
		clientInitURL("url-userinfo", "http://user:secret@127.0.0.1:1/metadata", ""),
		clientInitURL("url-file-scheme", "file:///etc/metadata", ""),
		clientInitURL("url-ftp-scheme", "ftp://127.0.0.1/metadata", ""),
		clientInitURL("url-fragment", "http://127.0.0.1:1/metadata#frag", ""),
		clientInitURL("url-relative", "metadata", ""),
		{name: "flags/client-init-empty-state", stage: writeRoot, code: 2, stderr: "STATE",
			args: []string{"client", "init", "", "--root", "$DIR/root.json", "--url", "http://127.0.0.1:1/metadata", "--platform", "macos", "--release", "26.3"}},
		{name: "flags/client-init-state-is-file", stage: writeRoot, code: 1, stderr: "$DIR/root.json",
			args: []string{"client", "init", "$DIR/root.json", "--root", "$DIR/root.json", "--url", "http://127.0.0.1:1/metadata", "--platform", "macos", "--release", "26.3"}},
		{name: "flags/client-check-state-is-file", stage: writeRoot, code: 1, stderr: "$DIR/root.json",
			args: []string{"client", "check", "$DIR/root.json"}},
		{name: "flags/tuf-client-unknown-command", fx: fxTUF, code: 1, stderr: "frobnicate", args: []string{"tuf-client", "--metadata-dir", "$MD", "frobnicate"}},
		{name: "flags/tuf-client-metadata-url-file-scheme", fx: fxTUF, code: 1, stderr: "file",
			args: []string{"tuf-client", "--metadata-dir", "$MD", "--metadata-url", "file:///etc", "refresh"}},
	},
)

func mustRead(h *hostileEnv, name string) []byte {
	b, err := os.ReadFile(h.path(name))
	if err != nil {
		h.t.Fatal(err)
	}
	return b
}

// keyFile writes $DIR/bad.key and gives it to "bsi repo sign" (with a role
// pending) and to "bsi keys show".
func keyFile(attack string, body func(h *hostileEnv) []byte, code int, fault string) []hostileInput {
	return []hostileInput{{name: "key/repo-sign-" + attack, fx: fxWorkspace, code: code, stderr: fault,
		stage: func(h *hostileEnv) { h.write("bad.key", body(h)); pendingTargets(h) },
		args:  []string{"repo", "sign", "$WS", "--key", "$DIR/bad.key"}},
		{name: "key/keys-show-" + attack, fx: fxWorkspace, code: code, stderr: fault,
			stage: func(h *hostileEnv) { h.write("bad.key", body(h)) },
			args:  []string{"keys", "show", "$DIR/bad.key"}}}
}

// pendingTargets leaves the webkit role changed and unsigned, so that a
// signature is wanted.
func pendingTargets(h *hostileEnv) {
	h.must("repo", "add", "$WS", "--manifest", h.writeManifest(hostileManifest(2)),
		"--payload", h.write("p.tar.gz", hostilePayload(hostileManifest(2))))
}

func writeRoot(h *hostileEnv) {
	r := sim.New(hostileNow, func(err error) { h.t.Fatal(err) })
	h.write("root.json", r.Get("1.root.json"))
	r.Close()
}

// clientInitURL gives "bsi client init" a hostile --url: refused as bad
// input (exit 1) naming metadata_url, before the state directory is made.
func clientInitURL(attack, url, knownBug string) hostileInput {
	return hostileInput{name: "flags/client-init-" + attack, stage: writeRoot, code: 1, stderr: "metadata_url", knownBug: knownBug,
		args: []string{"client", "init", "$DIR/state", "--root", "$DIR/root.json", "--url", url, "--platform", "macos", "--release", "26.3"}}
}

// Stages of the metadata table that need more than one step.

func rotateRoot(change func(*metadata.RootType)) func(*hostileEnv) {
	return func(h *hostileEnv) { h.repo.RotateRoot(change) }
}

// rootByNewKeysOnly serves root v2 signed only by new root keys.
func rootByNewKeysOnly(h *hostileEnv) {
	r := h.repo
	r.Root.Signed.Version++
	r.ReplaceKeys(&r.Root.Signed, "root", sim.Ed25519, 1, 1)
	r.PublishRoot()
}

func roleRollback(h *hostileEnv) {
	resign(func(r *sim.Repo) { r.Targets["webkit"].Signed.Version = 0 }, "webkit")(h)
}

// targetsRollback has the tuf-client trust targets v2, then serves v1.
func targetsRollback(h *hostileEnv) {
	h.repo.Publish("targets")
	h.must(h.expandAll(refresh)...)
	h.repo.Targets["targets"].Signed.Version = 0
	h.repo.Publish("targets")
}

func (h *hostileEnv) expandAll(args []string) []string {
	out := make([]string, len(args))
	for i, a := range args {
		out[i] = h.expand(a)
	}
	return out
}

// tufBump publishes timestamp v2 (the tuf-client trusts v1), then stages.
func tufBump(then func(*hostileEnv)) func(*hostileEnv) {
	return func(h *hostileEnv) {
		h.repo.Timestamp.Signed.Version++
		h.repo.PublishTimestamp()
		then(h)
	}
}

// payloadStatus lists webkit-26.3-b, lets the device check, then answers
// the payload's requests with code.
func payloadStatus(code int) func(*hostileEnv) {
	return func(h *hostileEnv) {
		payload := hostilePayload(hostileManifest(2))
		h.listHostile(payload)
		h.must(check...)
		for _, name := range []string{"targets/webkit/webkit-26.3-b.tar.gz", payloadName("webkit/webkit-26.3-b.tar.gz", payload)} {
			h.repo.Override(name, func(w http.ResponseWriter, _ *http.Request) { http.Error(w, "boom", code) })
		}
	}
}

// payloadStall lists webkit-26.3-b, lets the device check, then stalls the
// payload's download.
func payloadStall(h *hostileEnv) {
	payload := hostilePayload(hostileManifest(2))
	h.listHostile(payload)
	h.must(check...)
	h.repo.Override(payloadName("webkit/webkit-26.3-b.tar.gz", payload), stall(h, nil))
}

func slicesClip(s []hostileInput) []hostileInput { return slices.Clip(s) }
