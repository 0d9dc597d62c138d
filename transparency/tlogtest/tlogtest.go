// Package tlogtest builds transparency logs, witnesses, checkpoints and
// proofs in memory, for the tests of devices (agent, conformance) that
// verify them. It signs with golang.org/x/mod/sumdb/note and computes
// proofs with golang.org/x/mod/sumdb/tlog, independently of the code it
// tests, and lets a test choose every cosignature's timestamp.
package tlogtest

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"slices"
	"strings"
	"time"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/bsiframework/bsi/transparency"
)

// Log is an append-only log held in memory, with its own key.
type Log struct {
	Origin    string
	signer    note.Signer
	vkey      string
	Witnesses []*Witness
	entries   [][]byte
	hashes    []tlog.Hash // stored hashes, as tlog lays them out
}

// Witness is a witness key that cosigns with a chosen timestamp (C2SP
// tlog-cosignature, cosignature/v1 over Ed25519).
type Witness struct {
	Name string
	// VKey is the witness's verifier key (algorithm 0x04) for the policy.
	VKey string
	priv ed25519.PrivateKey
	hash uint32
}

// NewWitness makes a witness key named name.
func NewWitness(name string) *Witness {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		panic(err)
	}
	key := append([]byte{0x04}, pub...)
	h := sha256.Sum256(append([]byte(name+"\n"), key...))
	w := &Witness{Name: name, priv: priv, hash: binary.BigEndian.Uint32(h[:])}
	w.VKey = fmt.Sprintf("%s+%08x+%s", name, w.hash, base64.StdEncoding.EncodeToString(key))
	return w
}

// NewLog makes an empty log named origin with witnesses named
// "witness-1.example" ... "witness-N.example".
func NewLog(origin string, witnesses int) *Log {
	skey, vkey, err := note.GenerateKey(rand.Reader, origin)
	if err != nil {
		panic(err)
	}
	s, err := note.NewSigner(skey)
	if err != nil {
		panic(err)
	}
	l := &Log{Origin: origin, signer: s, vkey: vkey}
	for i := range witnesses {
		l.Witnesses = append(l.Witnesses, NewWitness(fmt.Sprintf("witness-%d.example", i+1)))
	}
	return l
}

// Policy is a C2SP tlog-policy naming the log, every witness, and a quorum
// of q of them.
func (l *Log) Policy(q int) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "log %s https://log.example/\n", l.vkey)
	var names []string
	for i, w := range l.Witnesses {
		fmt.Fprintf(&b, "witness w%d %s https://%s/\n", i+1, w.VKey, w.Name)
		names = append(names, fmt.Sprintf("w%d", i+1))
	}
	fmt.Fprintf(&b, "group witnesses %d %s\nquorum witnesses\n", q, strings.Join(names, " "))
	return []byte(b.String())
}

// Fork returns a copy of the log with the same key and witnesses: what a
// log operator who shows two views keeps.
func (l *Log) Fork() *Log {
	c := *l
	c.entries = slices.Clone(l.entries)
	c.hashes = slices.Clone(l.hashes)
	return &c
}

// Size is the number of entries.
func (l *Log) Size() int64 { return int64(len(l.entries)) }

// Append adds an entry and returns its index.
func (l *Log) Append(entry []byte) int64 {
	n := int64(len(l.entries))
	hs, err := tlog.StoredHashes(n, entry, tlog.HashReaderFunc(l.read))
	if err != nil {
		panic(err)
	}
	l.entries = append(l.entries, bytes.Clone(entry))
	l.hashes = append(l.hashes, hs...)
	return n
}

func (l *Log) read(idx []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(idx))
	for i, x := range idx {
		out[i] = l.hashes[x]
	}
	return out, nil
}

// Root is the tree hash at the current size.
func (l *Log) Root() tlog.Hash {
	h, err := tlog.TreeHash(l.Size(), tlog.HashReaderFunc(l.read))
	if err != nil {
		panic(err)
	}
	return h
}

// Checkpoint is the log's checkpoint at its current size, signed by the
// log and cosigned by the witnesses at time at.
func (l *Log) Checkpoint(at time.Time, cosigners ...*Witness) []byte {
	root := l.Root()
	text := fmt.Sprintf("%s\n%d\n%s\n", l.Origin, l.Size(), base64.StdEncoding.EncodeToString(root[:]))
	signers := []note.Signer{l.signer}
	for _, w := range cosigners {
		signers = append(signers, w.At(at))
	}
	b, err := note.Sign(&note.Note{Text: text}, signers...)
	if err != nil {
		panic(err)
	}
	return b
}

// Proof is the tlog-proof of entry index against checkpoint cp (made at
// the log's current size).
func (l *Log) Proof(index int64, cp []byte) []byte {
	rp, err := tlog.ProveRecord(l.Size(), index, tlog.HashReaderFunc(l.read))
	if err != nil {
		panic(err)
	}
	p := &transparency.Proof{Entry: l.entries[index], Index: uint64(index), Checkpoint: cp}
	for _, h := range rp {
		p.Hashes = append(p.Hashes, [32]byte(h))
	}
	return p.Marshal()
}

// At returns a note.Signer cosigning as w with timestamp at.
func (w *Witness) At(at time.Time) note.Signer { return &cosigner{w: w, at: at} }

type cosigner struct {
	w  *Witness
	at time.Time
}

func (c *cosigner) Name() string    { return c.w.Name }
func (c *cosigner) KeyHash() uint32 { return c.w.hash }
func (c *cosigner) Sign(msg []byte) ([]byte, error) {
	t := uint64(c.at.Unix())
	m := fmt.Appendf(nil, "cosignature/v1\ntime %d\n%s", t, msg)
	return append(binary.BigEndian.AppendUint64(nil, t), ed25519.Sign(c.w.priv, m)...), nil
}

// Entry is the log entry of target t, signed by role at roleVersion.
func Entry(t transparency.Target, roleVersion int64) []byte {
	mh, err := transparency.ManifestHash(t.Custom)
	if err != nil {
		panic(err)
	}
	e := &transparency.Entry{Kind: transparency.KindImprovement, Component: t.Component, Path: t.Path, Length: t.Length,
		Hashes: t.Hashes, ManifestSHA256: mh, Role: t.Component, RoleVersion: roleVersion}
	b, err := e.Marshal()
	if err != nil {
		panic(err)
	}
	return b
}
