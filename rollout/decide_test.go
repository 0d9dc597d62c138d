package rollout

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"
)

// The bucket is specified to the byte: these values were computed
// independently (Python's hmac module).
func TestBucketKnownAnswers(t *testing.T) {
	var counting Seed
	for i := range counting {
		counting[i] = byte(i)
	}
	for _, tc := range []struct {
		seed          Seed
		component, id string
		want          int
	}{
		{Seed{}, "webkit", "webkit-26.3-b", 8136},
		{counting, "safari", "safari-26.3-a", 1007},
	} {
		if got := Bucket(tc.seed, tc.component, tc.id); got != tc.want {
			t.Errorf("Bucket(%x, %s/%s) = %d, want %d", tc.seed[:4], tc.component, tc.id, got, tc.want)
		}
	}
}

// Over 10,000 devices each stage reaches its share within 1.5 percentage
// points, and a device offered at one stage is offered at every later one.
func TestBucketShareAndMonotone(t *testing.T) {
	const devices = 10000
	for _, spec := range []string{"1%:1h,5%:1h,25%:1h,50%:1h,100%", "canary:100%:1h,0.5%:1h,10%:1h,canary+beta:60%:1h,75%:1h,100%"} {
		stages, err := ParseStages(spec)
		if err != nil {
			t.Fatal(err)
		}
		s := valid(t)
		s.Stages = stages
		prev := make([]bool, devices)
		for i, st := range stages {
			at := s.StageStart(i).Add(30 * time.Minute)
			n := 0
			for dev := range devices {
				ring := []string{"", "canary", "beta", "stable"}[dev%4]
				d := Decide(s, Device{Seed: seed(dev), Ring: ring}, at)
				if d.Stage != i {
					t.Fatalf("%s: stage at %v is %d, want %d", spec, at, d.Stage, i)
				}
				if prev[dev] && !d.Offered {
					t.Fatalf("%s: device %d offered at stage %d but not at stage %d", spec, dev, i, i+1)
				}
				prev[dev] = d.Offered
				if len(st.Rings) == 0 && d.Bucket < st.BasisPoints && !d.Offered {
					t.Fatalf("%s: device %d with bucket %d not offered at stage %d (%d bp)", spec, dev, d.Bucket, i+1, st.BasisPoints)
				}
				if d.Bucket < st.BasisPoints {
					n++
				}
			}
			t.Logf("%s: stage %d: %d of %d devices below %d bp", spec, i+1, n, devices, st.BasisPoints)
			if diff := n*Full/devices - st.BasisPoints; diff > 150 || diff < -150 {
				t.Errorf("%s: stage %d: %d of %d devices below %d bp (off by %d bp)", spec, i+1, n, devices, st.BasisPoints, diff)
			}
		}
	}
}

// The same devices are not always first: buckets of two improvements are
// independent.
func TestBucketDiffersPerImprovement(t *testing.T) {
	both := 0
	for dev := range 10000 {
		if Bucket(seed(dev), "webkit", "webkit-26.3-a") < 1000 && Bucket(seed(dev), "webkit", "webkit-26.3-b") < 1000 {
			both++
		}
	}
	// Independent: about 1% of devices are in the first 10% of both.
	if both < 50 || both > 150 {
		t.Fatalf("%d devices in the first 10%% of two improvements, want about 100", both)
	}
}

func TestStage(t *testing.T) {
	s := valid(t) // holds of 24h from t0; the last stage from t0+72h
	for _, tc := range []struct {
		at   time.Duration
		want int
		ok   bool
	}{
		{-time.Second, -1, false},
		{0, 0, true},
		{24*time.Hour - time.Second, 0, true},
		{24 * time.Hour, 1, true},
		{48 * time.Hour, 2, true},
		{72*time.Hour - time.Second, 2, true},
		{72 * time.Hour, 3, true},
		{10000 * time.Hour, 3, true},
	} {
		got, ok := s.Stage(t0.Add(tc.at))
		if got != tc.want || ok != tc.ok {
			t.Errorf("Stage(t0+%v) = %d, %v, want %d, %v", tc.at, got, ok, tc.want, tc.ok)
		}
	}
}

func TestDecide(t *testing.T) {
	s := valid(t)
	// Find a device of bucket >= 2500 (reached only at the last stage)
	// and one below 500.
	var late, early Seed
	for dev := 0; ; dev++ {
		b := Bucket(seed(dev), s.Component, s.ID)
		if b >= 2500 && late == (Seed{}) {
			late = seed(dev)
		}
		if b < 500 && early == (Seed{}) {
			early = seed(dev)
		}
		if late != (Seed{}) && early != (Seed{}) {
			break
		}
	}
	for _, tc := range []struct {
		name    string
		d       Device
		at      time.Duration
		offered bool
		stage   int
		next    time.Duration
	}{
		{"before start", Device{Seed: early, Ring: "canary"}, -time.Hour, false, -1, 0},
		{"canary first", Device{Seed: late, Ring: "canary"}, time.Hour, true, 0, 24 * time.Hour},
		{"others wait", Device{Seed: late}, time.Hour, false, 0, 24 * time.Hour},
		{"early at 5%", Device{Seed: early}, 25 * time.Hour, true, 1, 48 * time.Hour},
		{"late at 25%", Device{Seed: late}, 49 * time.Hour, false, 2, 72 * time.Hour},
		{"canary stays", Device{Seed: late, Ring: "canary"}, 49 * time.Hour, true, 2, 72 * time.Hour},
		{"everyone at the end", Device{Seed: late}, 73 * time.Hour, true, 3, -1},
	} {
		d := Decide(s, tc.d, t0.Add(tc.at))
		if d.Offered != tc.offered || d.Stage != tc.stage {
			t.Errorf("%s: offered %v at stage %d, want %v at %d", tc.name, d.Offered, d.Stage, tc.offered, tc.stage)
		}
		switch {
		case tc.next < 0 && !d.NextAt.IsZero():
			t.Errorf("%s: next at %v at the last stage", tc.name, d.NextAt)
		case tc.next >= 0 && !d.NextAt.Equal(t0.Add(tc.next)):
			t.Errorf("%s: next at %v, want t0+%v", tc.name, d.NextAt, tc.next)
		}
	}
}

func TestManualInstall(t *testing.T) {
	s := valid(t)
	d := Decide(s, Device{}, t0.Add(-time.Hour))
	if d.Offered || d.ManualInstall(false) != nil {
		t.Fatalf("before start: offered %v, manual install: %v", d.Offered, d.ManualInstall(false))
	}
	s.Halted = &Halt{At: t0.Add(time.Hour), Reason: "crash reports"}
	d = Decide(s, Device{Ring: "canary"}, t0.Add(2*time.Hour))
	var he *HaltedError
	if err := d.ManualInstall(false); !errors.As(err, &he) || he.Reason != "crash reports" || !strings.Contains(err.Error(), "webkit/webkit-26.3-b is halted since 2026-12-01T01:00:00Z") {
		t.Fatalf("halted manual install: %v", err)
	}
	if err := d.ManualInstall(true); err != nil {
		t.Fatalf("halted manual install with override: %v", err)
	}
}

func TestNewSeed(t *testing.T) {
	s, err := NewSeed(bytes.NewReader(bytes.Repeat([]byte{7}, 32)))
	if err != nil || s[31] != 7 {
		t.Fatal(s, err)
	}
	if _, err := NewSeed(bytes.NewReader(make([]byte, 31))); err == nil {
		t.Fatal("a short seed was accepted")
	}
}
