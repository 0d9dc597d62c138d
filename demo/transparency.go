package demo

import (
	"bytes"
	"crypto"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/theupdateframework/go-tuf/v2/metadata"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/bsiframework/bsi/keys"
	"github.com/bsiframework/bsi/transparency"
	"github.com/bsiframework/bsi/transparency/monitor"
	"github.com/bsiframework/bsi/transparency/publog"
	"github.com/bsiframework/bsi/transparency/witness"
	"github.com/bsiframework/bsi/trust/client"
	"github.com/bsiframework/bsi/trust/repo"
)

// logOrigin names the demo's transparency log.
const logOrigin = "demo.example/bsi-log"

// tlogStory is the transparency part of the story: the log's key, its
// policy and the monitor's state.
type tlogStory struct {
	logSigner *witness.NoteSigner
	policy    *publog.Policy
	// witnesses are the witnesses' cosigners: only a broken defence
	// (Options.breakDefence "split-view") uses them outside the servers.
	witnesses []note.Signer
}

func (w *world) transparencySteps() []func() error {
	return []func() error{w.stepTransparencyLog, w.stepSplitViewAttack, w.stepUnseenReleaseAttack}
}

// stepTransparencyLog turns the log on: three witnesses on loopback (the
// code of "bsi witness serve", in-process), a policy signed as a targets
// target, and a webkit release the device installs with its proof.
func (w *world) stepTransparencyLog() error {
	ctx := w.ctx
	newSigner := func(name string) (crypto.Signer, error) {
		priv, err := keys.Generate(keys.Ed25519)
		if err != nil {
			return nil, err
		}
		return priv, keys.WriteKeyPair(filepath.Join(w.dir, "keys", name), priv, nil)
	}
	priv, err := newSigner("log")
	if err != nil {
		return err
	}
	s, err := keys.NewSigner(priv)
	if err != nil {
		return err
	}
	if w.tl.logSigner, err = witness.NewNoteSigner(logOrigin, s); err != nil {
		return err
	}
	var ws []publog.Witness
	for i := range 3 {
		name := fmt.Sprintf("witness-%d.demo.example", i+1)
		priv, err := newSigner(fmt.Sprintf("witness-%d", i+1))
		if err != nil {
			return err
		}
		s, err := keys.NewSigner(priv)
		if err != nil {
			return err
		}
		c, err := witness.NewCosigner(name, s, w.clock.Now)
		if err != nil {
			return err
		}
		w.tl.witnesses = append(w.tl.witnesses, c)
		srv, err := witness.NewServer(witness.Config{Signer: c, Logs: []string{w.tl.logSigner.VerifierKey()},
			StateDir: filepath.Join(w.dir, "witnesses", name), Logger: w.logger})
		if err != nil {
			return err
		}
		url, err := w.listen(srv)
		if err != nil {
			return err
		}
		ws = append(ws, publog.Witness{Name: name, Key: c.VerifierKey(), URL: url})
	}
	policy := publog.FormatPolicy(w.tl.logSigner.VerifierKey(), "", ws, 2)
	if w.tl.policy, err = publog.ParsePolicy(policy); err != nil {
		return err
	}
	pf := filepath.Join(w.dir, "workspace", "tlog-policy")
	if err := os.WriteFile(pf, policy, 0o644); err != nil {
		return err
	}
	if err := w.ws.SetTransparencyPolicy(ctx, pf, w.signers["targets"]); err != nil {
		return err
	}
	// The publishing pipeline now logs every publish (the hook "bsi repo
	// tlog-enable" configures).
	opts := w.repoOpts
	opts.Transparency = publog.New(publog.Options{Dir: filepath.Join(w.dir, "workspace", "transparency"),
		Signer: w.tl.logSigner, Logger: w.logger})
	if err := w.ws.Close(); err != nil {
		return err
	}
	if w.ws, err = repo.Open(ctx, filepath.Join(w.dir, "workspace"), opts); err != nil {
		return err
	}
	if err := w.add("webkit", newRelease, "active"); err != nil {
		return err
	}
	if _, err := w.republish("webkit"); err != nil {
		return err
	}
	_, after, _, err := w.converge(w.device)
	if err != nil {
		return fmt.Errorf("device after the log was turned on: %w", err)
	}
	cp, err := os.ReadFile(filepath.Join(w.public, transparency.CheckpointPath))
	if err != nil {
		return err
	}
	cosigned := bytes.Count(cp, []byte("\n— witness-"))
	ok := has(after, "webkit-26.4-a") && cosigned == 3
	w.emit(Event{Name: "transparency-log", Actor: "publisher", OK: ok, Line: fmt.Sprintf(
		"the publisher turned on the transparency log %s: every publish is logged and its checkpoint cosigned by %d of 3 witnesses on loopback (policy: any 2, a signed targets target); the device installed %s after verifying its inclusion proof and the witnesses' quorum",
		logOrigin, cosigned, labels(after))})
	return nil
}

// stepSplitViewAttack: an attacker with the webkit key, the online keys
// and the log key shows one device a release nobody else sees. They fork
// the log (the genuine entries but the last, their release, the last) and
// sign its checkpoint with the log key; the witnesses cosign only one
// history and never see this one.
func (w *world) stepSplitViewAttack() error {
	const id = "webkit-26.4-z"
	tpath := "webkit/" + id + ".tar.gz"
	overlay, err := w.forgeWebkitRole(newRelease, []evilTarget{{tpath, id, "webkit"}})
	if err != nil {
		return err
	}
	genuine, err := monitor.Read(w.ctx, nil, w.url, w.tl.policy, 0)
	if err != nil {
		return err
	}
	entry, err := w.forgedEntry(overlay, tpath)
	if err != nil {
		return err
	}
	leaves := genuine.Leaves
	fork := append(append(append([][]byte{}, leaves[:len(leaves)-1]...), entry), leaves[len(leaves)-1])
	signers := []note.Signer{w.tl.logSigner}
	if w.broken == "split-view" {
		signers = append(signers, w.tl.witnesses...)
	}
	proof, err := forkProof(fork, len(leaves)-1, signers...)
	if err != nil {
		return err
	}
	for name := range overlay {
		if strings.HasPrefix(name, "targets/webkit/") && strings.HasSuffix(name, "."+path.Base(tpath)) {
			overlay[name+transparency.ProofSuffix] = proof
		}
	}
	overlayH := w.overlayHandler(overlay)
	w.mitm.redirect(overlayH)
	before, after, _, err := w.converge(w.device)
	w.mitm.redirect(nil)
	w.emit(stopped("attack-split-view",
		"an attacker holding the webkit, online and log keys showed the device alone webkit (z), logged in a fork of the log that no witness cosigned; without a witnessed inclusion proof the device installs nothing",
		err, "security", before, after))
	return nil
}

// forgedEntry is the log entry of the forged target as its role lists it.
func (w *world) forgedEntry(overlay map[string][]byte, tpath string) ([]byte, error) {
	for name, data := range overlay {
		if !strings.HasSuffix(name, ".webkit.json") {
			continue
		}
		role, err := metadata.Targets().FromBytes(data)
		if err != nil {
			return nil, err
		}
		tf := role.Signed.Targets[tpath]
		if tf == nil || tf.Custom == nil {
			return nil, fmt.Errorf("%w: %s does not list %s", errForge, name, tpath)
		}
		mh, err := transparency.ManifestHash(*tf.Custom)
		if err != nil {
			return nil, err
		}
		e := transparency.Entry{Kind: transparency.KindImprovement, Component: "webkit", Path: tpath, Length: tf.Length,
			Hashes: map[string]string{}, ManifestSHA256: mh, Role: "webkit", RoleVersion: role.Signed.Version}
		for alg, h := range tf.Hashes {
			e.Hashes[alg] = hex.EncodeToString(h)
		}
		return e.Marshal()
	}
	return nil, fmt.Errorf("%w: no webkit role in the overlay", errForge)
}

// forkProof builds the log of the given entries in memory, signs its
// checkpoint with signers (the log key first) and returns the tlog-proof
// of entry index.
func forkProof(entries [][]byte, index int, signers ...note.Signer) ([]byte, error) {
	var hashes []tlog.Hash
	read := tlog.HashReaderFunc(func(idx []int64) ([]tlog.Hash, error) {
		out := make([]tlog.Hash, len(idx))
		for i, x := range idx {
			out[i] = hashes[x]
		}
		return out, nil
	})
	for i, e := range entries {
		hs, err := tlog.StoredHashes(int64(i), e, read)
		if err != nil {
			return nil, err
		}
		hashes = append(hashes, hs...)
	}
	n := int64(len(entries))
	root, err := tlog.TreeHash(n, read)
	if err != nil {
		return nil, err
	}
	text := fmt.Sprintf("%s\n%d\n%s\n", signers[0].Name(), n, base64.StdEncoding.EncodeToString(root[:]))
	cp, err := note.Sign(&note.Note{Text: text}, signers...)
	if err != nil {
		return nil, err
	}
	rp, err := tlog.ProveRecord(n, int64(index), read)
	if err != nil {
		return nil, err
	}
	var hs [][]byte
	for _, h := range rp {
		hs = append(hs, h[:])
	}
	return publog.FormatProof(entries[index], uint64(index), hs, cp), nil
}

// stepUnseenReleaseAttack: an attacker holding the webkit key and the log
// key logs a release the team never made, so that they can later show it
// to devices with a valid proof. The witnesses cosign it (the log only
// grew), so the release is in the one log everybody reads: the webkit
// team's monitor reports it.
func (w *world) stepUnseenReleaseAttack() error {
	const tpath = "webkit/webkit-26.4-evil.tar.gz"
	policy, err := w.ws.TransparencyPolicy()
	if err != nil {
		return err
	}
	evil := transparency.Entry{Kind: transparency.KindImprovement, Component: "webkit", Path: tpath, Length: 4242,
		Hashes: map[string]string{"sha256": strings.Repeat("ab", 32)}, ManifestSHA256: strings.Repeat("cd", 32),
		Role: "webkit", RoleVersion: 99}
	mirror, err := repo.DirDestination(filepath.Join(w.dir, "attacker-mirror"))
	if err != nil {
		return err
	}
	l := publog.New(publog.Options{Dir: filepath.Join(w.dir, "workspace", "transparency"), Signer: w.tl.logSigner, Logger: w.logger})
	if err := l.LogPublish(w.ctx, mirror, &repo.TransparencyFacts{Policy: policy,
		Improvements: []repo.LoggedImprovement{{Entry: evil, Files: []string{"targets/" + tpath}}}}); err != nil {
		return fmt.Errorf("the attacker's logging: %w", err)
	}
	// The team publishes its next release; the log it carries holds the
	// attacker's entry.
	w.clock.Advance(time.Hour)
	if err := w.add("webkit", newRelease, "active"); err != nil {
		return err
	}
	if _, err := w.republish("webkit"); err != nil {
		return err
	}
	findings, mine, err := w.monitorWebkit()
	if err != nil {
		return err
	}
	ev := Event{Name: "monitor-unseen-release", Actor: "monitor"}
	for _, f := range findings {
		if f.Path == tpath {
			ev.OK = true
			ev.Line = fmt.Sprintf("the webkit team's monitor (bsi monitor --component webkit) read the witnessed log (%d webkit entries) and reported a release signed for webkit that the team never made: %s %s (entry %d): %s",
				len(mine), f.Kind, f.Path, f.Index, f.Detail)
		}
	}
	if !ev.OK {
		ev.Line = fmt.Sprintf("NOT DETECTED: the monitor reported %d findings, none for %s", len(findings), tpath)
	}
	w.emit(ev)
	return nil
}

// monitorWebkit is "bsi monitor URL --root 1.root.json --component webkit":
// it reads the log (checkpoint verified against the policy, every entry
// hashed to its root) and compares it with what the repository lists.
func (w *world) monitorWebkit() ([]monitor.Finding, []monitor.Logged, error) {
	root, err := os.ReadFile(filepath.Join(w.public, "1.root.json"))
	if err != nil {
		return nil, nil, err
	}
	meta := filepath.Join(w.dir, "monitor", "metadata")
	if err := os.MkdirAll(meta, 0o755); err != nil {
		return nil, nil, err
	}
	if err := client.Init(meta, root, w.clock.Now()); err != nil {
		return nil, nil, err
	}
	c, err := client.New(client.Config{MetadataDir: meta, MetadataURL: w.url, Now: w.clock.Now, Logger: w.logger})
	if err != nil {
		return nil, nil, err
	}
	if err := c.Refresh(w.ctx); err != nil {
		return nil, nil, err
	}
	targets, err := c.Targets(w.ctx)
	if err != nil {
		return nil, nil, err
	}
	var listed []monitor.Listed
	for _, t := range targets {
		if len(t.Roles) < 2 || t.Custom == nil {
			continue
		}
		mh, err := transparency.ManifestHash(t.Custom)
		if err != nil {
			continue
		}
		listed = append(listed, monitor.Listed{Path: t.Path, Length: t.Length, Hashes: t.Hashes, ManifestSHA256: mh})
	}
	lg, err := monitor.Read(w.ctx, nil, w.url, w.tl.policy, 0)
	if err != nil {
		return nil, nil, err
	}
	findings, mine := monitor.Check(lg.Leaves, listed, "webkit")
	return findings, mine, nil
}
