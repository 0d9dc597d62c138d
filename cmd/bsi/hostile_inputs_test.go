package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/secure-systems-lab/go-securesystemslib/encrypted"

	"github.com/bsiframework/bsi/conformance/sim"
	"github.com/bsiframework/bsi/keys"
)

// Stages: each edits an entry's repository or writes its input files before
// the trusted state is recorded.

// serveMeta serves body(h) as the metadata file name.
func serveMeta(name string, body func(h *hostileEnv) []byte) func(*hostileEnv) {
	return func(h *hostileEnv) { h.repo.Set(h.metaName(name), body(h)) }
}

// metaName turns "N.snapshot.json" into the version the timestamp lists,
// "N.webkit.json" into the version the snapshot lists.
func (h *hostileEnv) metaName(name string) string {
	role, ok := strings.CutPrefix(name, "N.")
	if !ok {
		return name
	}
	v := h.repo.Snapshot.Signed.Version
	if role != "snapshot.json" {
		v = h.repo.Snapshot.Signed.Meta[role].Version
	}
	return strconv.FormatInt(v, 10) + "." + role
}

// edit serves the metadata file name with the last old replaced by new
// (bytes, after its signatures: the signed content is altered as is).
func edit(name, old, new string) func(*hostileEnv) {
	return serveMeta(name, func(h *hostileEnv) []byte {
		b := compact(h, h.repo.Get(h.metaName(name)))
		if !bytes.Contains(b, []byte(old)) {
			h.t.Fatalf("stage: %s has no %q:\n%s", name, old, b)
		}
		i := bytes.LastIndex(b, []byte(old))
		return slicesConcat(b[:i], []byte(new), b[i+len(old):])
	})
}

// compact removes the indentation of a metadata file (its signatures cover
// the canonical form, so they stay valid).
func compact(h *hostileEnv, b []byte) []byte {
	var buf bytes.Buffer
	if err := json.Compact(&buf, b); err != nil {
		h.t.Fatal(err)
	}
	return buf.Bytes()
}

// republish publishes a new valid webkit role, snapshot and timestamp, then
// stages more on top (a hostile snapshot or role the new timestamp lists).
func republish(then ...func(*hostileEnv)) func(*hostileEnv) {
	return func(h *hostileEnv) {
		h.repo.Publish("webkit")
		for _, f := range then {
			f(h)
		}
	}
}

// resign edits the repository's metadata with f and re-signs what it says.
func resign(f func(r *sim.Repo), what string) func(*hostileEnv) {
	return func(h *hostileEnv) {
		f(h.repo)
		switch what {
		case "timestamp":
			h.repo.Timestamp.Signed.Version++
			h.repo.PublishTimestamp()
		case "snapshot":
			h.repo.Snapshot.Signed.Version++
			h.repo.Timestamp.Signed.Version++
			h.repo.PublishSnapshot()
		default:
			h.repo.Publish(what)
		}
	}
}

func deepNesting(string) func(*hostileEnv) []byte {
	return func(*hostileEnv) []byte {
		return []byte(`{"signatures":[],"signed":` + strings.Repeat("[", 10000) + strings.Repeat("]", 10000) + "}")
	}
}

// endless makes the metadata file name an endless body.
func endless(name string) func(*hostileEnv) {
	return func(h *hostileEnv) { h.repo.Endless(h.metaName(name)) }
}

// duplicateKey serves name with key repeated inside its "signed" object,
// the second copy holding value.
func duplicateKey(name, key, value string) func(*hostileEnv) {
	return serveMeta(name, func(h *hostileEnv) []byte {
		b := compact(h, h.repo.Get(h.metaName(name)))
		i := bytes.Index(b, []byte(`"signed":{`))
		if i < 0 {
			h.t.Fatalf("stage: %s has no signed object", name)
		}
		i += len(`"signed":{`)
		return slicesConcat(b[:i], []byte(fmt.Sprintf("%q:%s,", key, value)), b[i:])
	})
}

// duplicateSigned serves name with a second "signed" object (another
// version) after the first.
func duplicateSigned(name string) func(*hostileEnv) {
	return serveMeta(name, func(h *hostileEnv) []byte {
		b := compact(h, h.repo.Get(h.metaName(name)))
		var md map[string]json.RawMessage
		if err := json.Unmarshal(b, &md); err != nil {
			h.t.Fatal(err)
		}
		other := bytes.Replace(md["signed"], []byte(`"version":`), []byte(`"version":9`), 1)
		return slicesConcat(b[:len(b)-1], []byte(`,"signed":`), other, []byte("}"))
	})
}

// duplicateSignedIdentical serves name with its "signed" object twice:
// verifying one copy and reading the other would be a parser differential.
func duplicateSignedIdentical(name string) func(*hostileEnv) {
	return serveMeta(name, func(h *hostileEnv) []byte {
		b := compact(h, h.repo.Get(h.metaName(name)))
		var md map[string]json.RawMessage
		if err := json.Unmarshal(b, &md); err != nil {
			h.t.Fatal(err)
		}
		return slicesConcat(b[:len(b)-1], []byte(`,"signed":`), md["signed"], []byte("}"))
	})
}

// noSignatures serves name with an empty signature list.
func noSignatures(name string) func(*hostileEnv) {
	return serveMeta(name, func(h *hostileEnv) []byte {
		var md map[string]json.RawMessage
		if err := json.Unmarshal(h.repo.Get(h.metaName(name)), &md); err != nil {
			h.t.Fatal(err)
		}
		md["signatures"] = json.RawMessage("[]")
		b, _ := json.Marshal(md)
		return b
	})
}

// wrongKey re-signs role (timestamp, snapshot, or a targets role) with a
// fresh key nobody delegated.
func wrongKey(role string) func(*hostileEnv) {
	return resign(func(r *sim.Repo) { r.Signers[role] = []*sim.Key{r.NewKey(sim.Ed25519)} }, role)
}

func expire(role string) func(*hostileEnv) {
	past := hostileNow.Add(-time.Hour)
	return resign(func(r *sim.Repo) {
		switch role {
		case "timestamp":
			r.Timestamp.Signed.Expires = past
		case "snapshot":
			r.Snapshot.Signed.Expires = past
		default:
			r.Targets[role].Signed.Expires = past
		}
	}, role)
}

// delegate makes the top-level targets delegate name (a hostile role name)
// for webkit's paths, ahead of webkit (whose delegation is terminating), and
// lists webkit-26.3-b in it: a manifest of component webkit signed by a
// role that is not webkit.
func delegate(name string) func(*hostileEnv) {
	return func(h *hostileEnv) {
		h.repo.Delegate("targets", name, []string{"webkit/*"}, false)
		d := h.repo.Targets["targets"].Signed.Delegations
		d.Roles = append(d.Roles[len(d.Roles)-1:], d.Roles[:len(d.Roles)-1]...)
		h.repo.Publish("targets")
		listTarget(name, "webkit/webkit-26.3-b.tar.gz")(h)
	}
}

// listTarget lists payload at the hostile target path p in role, with a
// valid webkit-26.3-b manifest in custom.
func listTarget(role, p string) func(*hostileEnv) {
	return func(h *hostileEnv) {
		custom, err := hostileManifest(2).Custom()
		if err != nil {
			h.t.Fatal(err)
		}
		h.repo.AddTarget(role, p, hostilePayload(hostileManifest(2)))
		h.repo.SetCustom(role, p, custom)
		h.repo.Publish(role)
	}
}

// metaHashes lists lengths and hashes of snapshot and roles, republishes,
// then serves name (the new snapshot or webkit role) with its bytes changed
// by f.
func metaHashes(name string, f func([]byte) []byte) func(*hostileEnv) {
	return func(h *hostileEnv) {
		h.repo.MetaHashes = true
		h.repo.Publish("webkit")
		n := h.metaName(name)
		h.repo.Set(n, f(h.repo.Get(n)))
	}
}

func appendSpace(b []byte) []byte { return append(bytes.Clone(b), ' ') }

// flipSignature changes one hex digit of the first signature: same length,
// other hash.
func flipSignature(b []byte) []byte {
	i := bytes.Index(b, []byte(`"sig":"`)) + len(`"sig":"`)
	out := bytes.Clone(b)
	out[i] = "01"[boolInt(out[i] == '0')]
	return out
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func slicesConcat(bs ...[]byte) []byte { return bytes.Join(bs, nil) }

// HTTP misbehaviours, as handlers for sim's Override.

// httpOverride answers requests for name with handler.
func httpOverride(name string, handler func(h *hostileEnv, body []byte) http.HandlerFunc) func(*hostileEnv) {
	return func(h *hostileEnv) {
		n := h.metaName(name)
		h.repo.Override(n, handler(h, h.repo.Get(n)))
	}
}

func contentLength(delta int) func(*hostileEnv, []byte) http.HandlerFunc {
	return func(_ *hostileEnv, body []byte) http.HandlerFunc {
		return func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Length", strconv.Itoa(len(body)+delta))
			w.Write(body)
		}
	}
}

// closeMidway sends the headers and half the body, then closes the
// connection.
func closeMidway(_ *hostileEnv, body []byte) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		conn, buf, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer conn.Close()
		fmt.Fprintf(buf, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n", len(body))
		buf.Write(body[:len(body)/2])
		buf.Flush()
	}
}

// stall sends the headers, then nothing until the client goes away.
func stall(*hostileEnv, []byte) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusOK)
		http.NewResponseController(w).Flush()
		<-r.Context().Done()
	}
}

// drip sends the file one byte every 50 ms, then spaces forever, until the
// client goes away.
func drip(_ *hostileEnv, body []byte) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		rc := http.NewResponseController(w)
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for i := 0; ; i++ {
			b := byte(' ')
			if i < len(body) {
				b = body[i]
			}
			if _, err := w.Write([]byte{b}); err != nil || rc.Flush() != nil {
				return
			}
			select {
			case <-tick.C:
			case <-r.Context().Done():
				return
			}
		}
	}
}

func htmlPage(*hostileEnv, []byte) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		fmt.Fprint(w, "<!DOCTYPE html><html><body><h1>Service temporarily unavailable</h1></body></html>\n")
	}
}

// redirectOtherHost redirects to the same file on a server at 127.0.0.2.
func redirectOtherHost(h *hostileEnv, body []byte) http.HandlerFunc {
	l, err := net.Listen("tcp", "127.0.0.2:0")
	if err != nil {
		h.t.Skip("no 127.0.0.2 on this machine:", err)
	}
	other := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.Write(body) }))
	other.Listener.Close()
	other.Listener = l
	other.Start()
	h.t.Cleanup(other.Close)
	return func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, other.URL+r.URL.Path, http.StatusFound)
	}
}

func redirectLoop(*hostileEnv, []byte) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, r.URL.Path, http.StatusFound)
	}
}

func status(code int) func(*hostileEnv) {
	return func(h *hostileEnv) { h.repo.Status("timestamp.json", code) }
}

// Archives.

// tarEntry is one header (and body) of a hostile archive.
type tarEntry struct {
	hdr  tar.Header
	body string
}

func reg(name, body string) tarEntry {
	return tarEntry{tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(body))}, body}
}

func symlink(name, target string) tarEntry {
	return tarEntry{hdr: tar.Header{Name: name, Typeflag: tar.TypeSymlink, Linkname: target, Mode: 0o777}}
}

func hardlink(name, target string) tarEntry {
	return tarEntry{hdr: tar.Header{Name: name, Typeflag: tar.TypeLink, Linkname: target, Mode: 0o644}}
}

func device(name string) tarEntry {
	return tarEntry{hdr: tar.Header{Name: name, Typeflag: tar.TypeChar, Devmajor: 1, Devminor: 3, Mode: 0o666}}
}

func setuid(name string) tarEntry {
	e := reg(name, "#!/bin/sh\n")
	e.hdr.Mode = 0o4755
	return e
}

// tarGz writes entries as a gzip-compressed tar archive.
func tarGz(entries ...tarEntry) []byte {
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	for _, e := range entries {
		e.hdr.ModTime = hostileNow
		tw.WriteHeader(&e.hdr)
		tw.Write([]byte(e.body))
	}
	tw.Close()
	gz.Close()
	return buf.Bytes()
}

// gzipBomb is a small archive (about 1.3 MiB) that expands to 1.2 GiB: six
// files of 200 MiB of zeros, each under the per-entry limit, together over
// the expanded-size limit. The zeros are one 8 MiB gzip member repeated.
func gzipBomb() []byte {
	const file, chunk = 200 << 20, 8 << 20
	member := func(b []byte) []byte {
		var buf bytes.Buffer
		gz, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
		gz.Write(b)
		gz.Close()
		return buf.Bytes()
	}
	zeros := member(make([]byte, chunk))
	var out bytes.Buffer
	for i := range 6 {
		var hdr bytes.Buffer
		tw := tar.NewWriter(&hdr)
		tw.WriteHeader(&tar.Header{Name: fmt.Sprintf("lib/zeros%d", i), Typeflag: tar.TypeReg, Mode: 0o644, Size: file, ModTime: hostileNow})
		out.Write(member(hdr.Bytes()))
		for range file / chunk {
			out.Write(zeros)
		}
	}
	out.Write(member(make([]byte, 1024)))
	return out.Bytes()
}

// hugeDeclared is a tar whose one entry declares 1 TiB and holds 10 bytes.
func hugeDeclared() []byte {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	tw.WriteHeader(&tar.Header{Name: "lib/webkit.txt", Typeflag: tar.TypeReg, Mode: 0o644, Size: 1 << 40, ModTime: hostileNow})
	tw.Write([]byte("0123456789"))
	gzb := &bytes.Buffer{}
	gz := gzip.NewWriter(gzb)
	gz.Write(buf.Bytes())
	gz.Close()
	return gzb.Bytes()
}

func truncated() []byte {
	b := tarGz(reg("lib/webkit.txt", strings.Repeat("webkit\n", 2000)), reg("lib/other.txt", "x"))
	return b[:len(b)/2]
}

// Key files.

func pemFile(typ string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}

func rsa1024() []byte {
	k, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		panic(err)
	}
	der, _ := x509.MarshalPKCS8PrivateKey(k)
	return pemFile("PRIVATE KEY", der)
}

func p384() []byte {
	k, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		panic(err)
	}
	der, _ := x509.MarshalPKCS8PrivateKey(k)
	return pemFile("PRIVATE KEY", der)
}

// encryptedKeyPEM is an ed25519 private key encrypted under "right
// password" in sigstore's format, with the lightest scrypt parameters the
// format accepts (N=2^15), made once.
var encryptedKeyPEM = sync.OnceValue(func() []byte {
	priv, err := keys.Generate(keys.Ed25519)
	if err != nil {
		panic(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		panic(err)
	}
	env, err := encrypted.EncryptWithCustomKDFParameters(der, []byte("right password"), encrypted.Legacy)
	if err != nil {
		panic(err)
	}
	return pemFile("ENCRYPTED SIGSTORE PRIVATE KEY", env)
})

// encryptedKey writes encryptedKeyPEM as $DIR/name.
func encryptedKey(h *hostileEnv, name string) string {
	return h.write(name, encryptedKeyPEM())
}

// scryptBomb is an encrypted key envelope whose scrypt parameters
// (N=2^30: gigabytes of memory, minutes of work) would exhaust the machine
// that tries them.
func scryptBomb() []byte {
	env := `{"kdf":{"name":"scrypt","params":{"N":1073741824,"r":8,"p":1},"salt":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="},` +
		`"cipher":{"name":"nacl/secretbox","nonce":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"},"ciphertext":"AAAA"}`
	return pemFile("ENCRYPTED SIGSTORE PRIVATE KEY", []byte(env))
}

// payloadName is the consistent-snapshot name of target p with payload b.
func payloadName(p string, b []byte) string {
	sum := sha256.Sum256(b)
	i := strings.LastIndex(p, "/")
	return "targets/" + p[:i+1] + hex.EncodeToString(sum[:]) + "." + p[i+1:]
}
