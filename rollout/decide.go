package rollout

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"io"
	"slices"
	"time"
)

// bucketLabel starts the message whose HMAC is a device's bucket.
const bucketLabel = "bsi-rollout/v1\x00"

// Seed is a device's random rollout seed, made once ([NewSeed]) and kept.
// It never leaves the device.
type Seed [32]byte

// NewSeed reads a seed from r (crypto/rand.Reader on a device).
func NewSeed(r io.Reader) (Seed, error) {
	var s Seed
	_, err := io.ReadFull(r, s[:])
	return s, err
}

// Bucket returns a device's bucket for one improvement, uniform in
// [0, 10000): the first 8 bytes, big-endian, of
// HMAC-SHA256(seed, "bsi-rollout/v1\x00" + component + "/" + id), modulo
// 10000. Each improvement orders devices anew, so the same devices are not
// always first.
func Bucket(seed Seed, component, id string) int {
	mac := hmac.New(sha256.New, seed[:])
	mac.Write([]byte(bucketLabel + component + "/" + id))
	return int(binary.BigEndian.Uint64(mac.Sum(nil)[:8]) % Full)
}

// Device is what the decision knows of a device: its seed and, optionally,
// the ring it belongs to ("" for none).
type Device struct {
	Seed Seed
	Ring string
}

// StageStart returns when stage i begins: Start plus the holds of the
// stages before it.
func (s *Schedule) StageStart(i int) time.Time {
	at := s.Start
	for _, st := range s.Stages[:min(i, len(s.Stages))] {
		at = at.Add(st.Hold())
	}
	return at
}

// Stage returns the index of the stage current at t: stage i is current
// from StageStart(i) until StageStart(i+1), the last from its start on.
// ok is false before Start. It ignores Halted.
func (s *Schedule) Stage(t time.Time) (index int, ok bool) {
	if t.Before(s.Start) || len(s.Stages) == 0 {
		return -1, false
	}
	at := s.Start
	for i, st := range s.Stages[:len(s.Stages)-1] {
		at = at.Add(st.Hold())
		if t.Before(at) {
			return i, true
		}
	}
	return len(s.Stages) - 1, true
}

// Admits reports whether stage st reaches a device with this bucket and
// ring.
func (st Stage) Admits(bucket int, ring string) bool {
	return bucket < st.BasisPoints && (len(st.Rings) == 0 || ring != "" && slices.Contains(st.Rings, ring))
}

// Decision is the rollout state of one improvement for one device at one
// time.
type Decision struct {
	Component, ID string
	// Offered: the device may install the improvement now.
	Offered bool
	// Started: the schedule's start has passed.
	Started bool
	// Stage is the index of the current stage (-1 before the start);
	// Stages the number of stages.
	Stage, Stages int
	// BasisPoints is the current stage's share (0 before the start);
	// Rings the rings it is restricted to.
	BasisPoints int
	Rings       []string
	// Bucket is the device's bucket for this improvement.
	Bucket int
	// Halted, with Reason and HaltedAt, when the publisher stopped it.
	Halted   bool
	Reason   string
	HaltedAt time.Time
	// NextAt is when the next stage begins (the start, before it); zero
	// at the last stage.
	NextAt time.Time
}

// Decide returns the rollout state of s for device d at time t (the
// trusted time). The device is offered the improvement when the rollout
// is not halted, has started, and some stage up to the current one admits
// it (bucket below the stage's basis points, and its ring among the
// stage's rings when it names any): the offered set only grows with time.
// s must be valid ([Parse] and [FromCustom] return only valid schedules).
func Decide(s *Schedule, d Device, t time.Time) Decision {
	dec := Decision{Component: s.Component, ID: s.ID, Stage: -1, Stages: len(s.Stages),
		Bucket: Bucket(d.Seed, s.Component, s.ID)}
	if h := s.Halted; h != nil {
		dec.Halted, dec.Reason, dec.HaltedAt = true, h.Reason, h.At
	}
	cur, ok := s.Stage(t)
	if !ok {
		dec.NextAt = s.Start
		return dec
	}
	dec.Started, dec.Stage = true, cur
	dec.BasisPoints, dec.Rings = s.Stages[cur].BasisPoints, s.Stages[cur].Rings
	if cur < len(s.Stages)-1 {
		dec.NextAt = s.StageStart(cur + 1)
	}
	if dec.Halted {
		return dec
	}
	for _, st := range s.Stages[:cur+1] {
		if st.Admits(dec.Bucket, d.Ring) {
			dec.Offered = true
			break
		}
	}
	return dec
}

// ManualInstall says whether the device's owner may install the
// improvement by hand now: always, even before its stage or its start,
// unless the rollout is halted, which needs override. The error is a
// *HaltedError.
func (d Decision) ManualInstall(override bool) error {
	if d.Halted && !override {
		return &HaltedError{Component: d.Component, ID: d.ID, Reason: d.Reason, At: d.HaltedAt}
	}
	return nil
}
