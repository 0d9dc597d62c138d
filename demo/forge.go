package demo

import (
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/theupdateframework/go-tuf/v2/metadata"

	"github.com/bsiframework/bsi/manifest"
)

// forgeWebkit stages a compromised webkit team: its key signs a new webkit
// role listing a target under safari's paths and a webkit target whose
// manifest claims component safari. The publishing pipeline (which holds
// the online keys) signs snapshot and timestamp over it as it would over any
// role a team pushes. The workspace refuses to build such a role, so it is
// made here with go-tuf's metadata package, on top of the published tree.
// The result is served as an overlay of the genuine tree.
func (w *world) forgeWebkit() (http.Handler, error) {
	overlay, err := w.forgeWebkitRole(release, []evilTarget{
		{"safari/safari-26.3-z.tar.gz", "safari-26.3-z", "safari"},
		{"webkit/webkit-26.3-z.tar.gz", "webkit-26.3-z", "safari"},
	})
	if err != nil {
		return nil, err
	}
	return w.overlayHandler(overlay), nil
}

// evilTarget is a target the compromised webkit key lists.
type evilTarget struct{ path, id, component string }

// forgeWebkitRole signs a new webkit role (with the webkit key) listing
// the evil targets for release rel, and snapshot and timestamp over it
// (with the online keys); it returns the new files and payloads by path.
func (w *world) forgeWebkitRole(rel string, evils []evilTarget) (map[string][]byte, error) {
	read := func(name string) ([]byte, error) { return os.ReadFile(filepath.Join(w.public, name)) }
	tsBytes, err := read("timestamp.json")
	if err != nil {
		return nil, err
	}
	ts, err := metadata.Timestamp().FromBytes(tsBytes)
	if err != nil {
		return nil, err
	}
	sv := ts.Signed.Meta["snapshot.json"].Version
	snapBytes, err := read(fmt.Sprintf("%d.snapshot.json", sv))
	if err != nil {
		return nil, err
	}
	snap, err := metadata.Snapshot().FromBytes(snapBytes)
	if err != nil {
		return nil, err
	}
	wm, ok := snap.Signed.Meta["webkit.json"]
	if !ok {
		return nil, fmt.Errorf("%w: snapshot lists no webkit role", errForge)
	}
	webkitBytes, err := read(fmt.Sprintf("%d.webkit.json", wm.Version))
	if err != nil {
		return nil, err
	}
	webkit, err := metadata.Targets().FromBytes(webkitBytes)
	if err != nil {
		return nil, err
	}

	overlay := map[string][]byte{}
	for _, evil := range evils {
		if err := w.forgeTarget(webkit, overlay, rel, evil.path, evil.id, evil.component); err != nil {
			return nil, err
		}
	}
	webkit.Signed.Version++
	newWebkit, err := resign(webkit, w.signers["webkit"])
	if err != nil {
		return nil, err
	}
	overlay[fmt.Sprintf("%d.webkit.json", webkit.Signed.Version)] = newWebkit
	snap.Signed.Meta["webkit.json"] = describe(wm, webkit.Signed.Version, newWebkit)

	snap.Signed.Version++
	newSnap, err := resign(snap, w.signers["snapshot"])
	if err != nil {
		return nil, err
	}
	overlay[fmt.Sprintf("%d.snapshot.json", snap.Signed.Version)] = newSnap
	ts.Signed.Meta["snapshot.json"] = describe(ts.Signed.Meta["snapshot.json"], snap.Signed.Version, newSnap)
	ts.Signed.Version++
	if overlay["timestamp.json"], err = resign(ts, w.signers["timestamp"]); err != nil {
		return nil, err
	}
	return overlay, nil
}

// overlayHandler serves the overlay's files over the genuine tree.
func (w *world) overlayHandler(overlay map[string][]byte) http.Handler {
	genuine := http.FileServer(http.Dir(w.public))
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		if b, ok := overlay[strings.TrimPrefix(r.URL.Path, "/")]; ok {
			rw.Write(b)
			return
		}
		if strings.HasSuffix(r.URL.Path, "/") {
			http.NotFound(rw, r)
			return
		}
		genuine.ServeHTTP(rw, r)
	})
}

// forgeTarget adds a target with a valid manifest for component to role,
// and its payload to the overlay under every hash.
func (w *world) forgeTarget(role *metadata.Metadata[metadata.TargetsType], overlay map[string][]byte, rel, tpath, id, component string) error {
	m := &manifest.Manifest{
		Schema: manifest.Schema, ID: id, Title: "looks legitimate",
		Platform: platform, Component: component,
		AppliesTo: manifest.AppliesTo{Releases: []string{rel}},
		Sequence:  26, Severity: manifest.SeverityCritical,
		Released: manifest.FormatTime(w.clock.Now()), Status: manifest.StatusActive,
	}
	custom, err := m.Custom()
	if err != nil {
		return err
	}
	payload := filepath.Join(w.dir, "payloads", id+".tar.gz")
	if err := writePayload(payload, component, id); err != nil {
		return err
	}
	data, err := os.ReadFile(payload)
	if err != nil {
		return err
	}
	tf, err := metadata.TargetFile().FromBytes(tpath, data, "sha256", "sha512")
	if err != nil {
		return err
	}
	raw := json.RawMessage(custom)
	tf.Custom = &raw
	role.Signed.Targets[tpath] = tf
	dir, base := path.Split(tpath)
	for _, h := range []hash.Hash{sha256.New(), sha512.New()} {
		h.Write(data)
		overlay["targets/"+dir+hex.EncodeToString(h.Sum(nil))+"."+base] = data
	}
	return nil
}

// resign replaces the signatures of md with one by s and returns the file.
func resign[T metadata.Roles](md *metadata.Metadata[T], s signature.Signer) ([]byte, error) {
	md.Signatures = nil
	if _, err := md.Sign(s); err != nil {
		return nil, err
	}
	return md.ToBytes(false)
}

// describe returns the meta entry of a new file version, keeping the
// length and hashes fields when the old entry had them.
func describe(old *metadata.MetaFiles, version int64, data []byte) *metadata.MetaFiles {
	mf := metadata.MetaFile(version)
	if old != nil && old.Length != 0 {
		mf.Length = int64(len(data))
	}
	if old != nil && len(old.Hashes) > 0 {
		mf.Hashes = metadata.Hashes{}
		for alg := range old.Hashes {
			var h hash.Hash
			switch alg {
			case "sha256":
				h = sha256.New()
			case "sha512":
				h = sha512.New()
			default:
				continue
			}
			h.Write(data)
			mf.Hashes[alg] = h.Sum(nil)
		}
	}
	return mf
}
