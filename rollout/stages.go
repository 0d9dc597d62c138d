package rollout

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// maxSpec bounds the stage list ParseStages reads.
const maxSpec = 4096

// ParseStages reads the command-line form of a stage list: stages
// separated by commas, each
//
//	[RING+RING...:]PERCENT[:HOLD]
//
// where PERCENT is a percentage with at most two decimals ("5%", "0.5%",
// "100%") and HOLD a duration ("24h", "90m", "2d"), required on every
// stage but the last, which must be "100%". Example:
//
//	canary:100%:24h,5%:24h,25%:2d,100%
//
// The stages are checked as [Schedule.Validate] checks them (percentages
// never go down, the last is 100% of every device). The error is a
// *FieldError whose path is "stage N" (1-based).
func ParseStages(spec string) ([]Stage, error) {
	if len(spec) > maxSpec {
		return nil, fieldErr("", "stage list is %d bytes, more than %d", len(spec), maxSpec)
	}
	if strings.TrimSpace(spec) == "" {
		return nil, fieldErr("", "empty stage list (want e.g. 5%%:24h,25%%:24h,100%%)")
	}
	parts := strings.Split(spec, ",")
	if len(parts) > MaxStages {
		return nil, fieldErr("", "%d stages, more than %d", len(parts), MaxStages)
	}
	stages := make([]Stage, 0, len(parts))
	for i, p := range parts {
		st, err := parseStage(strings.TrimSpace(p))
		if err != nil {
			return nil, fieldErr(fmt.Sprintf("stage %d", i+1), "%q: %v", p, err)
		}
		stages = append(stages, st)
	}
	if err := validateStages(stages, "stages"); err != nil {
		fe := err.(*FieldError)
		return nil, &FieldError{Path: "", Problem: fe.Problem}
	}
	return stages, nil
}

func parseStage(p string) (Stage, error) {
	fields := strings.Split(p, ":")
	var st Stage
	if !strings.HasSuffix(fields[0], "%") {
		if len(fields) == 1 || fields[0] != "" && fields[0][0] >= '0' && fields[0][0] <= '9' {
			return st, fmt.Errorf("want a percentage like 5%%")
		}
		st.Rings = strings.Split(fields[0], "+")
		for _, r := range st.Rings {
			if err := ValidRing(r); err != nil {
				return st, err
			}
		}
		fields = fields[1:]
	}
	if len(fields) > 2 {
		return st, fmt.Errorf("want [RINGS:]PERCENT[:HOLD]")
	}
	bp, err := ParsePercent(fields[0])
	if err != nil {
		return st, err
	}
	st.BasisPoints = bp
	if len(fields) == 2 {
		d, err := ParseHold(fields[1])
		if err != nil {
			return st, err
		}
		st.HoldSeconds = int64(d / time.Second)
	}
	return st, nil
}

// ParsePercent reads a percentage with at most two decimals, above 0 and
// at most 100 ("5%", "0.25%", "100%"), as basis points.
func ParsePercent(s string) (int, error) {
	num, ok := strings.CutSuffix(s, "%")
	if !ok {
		return 0, fmt.Errorf("%q is not a percentage like 5%%", s)
	}
	whole, frac, _ := strings.Cut(num, ".")
	if len(frac) > 2 {
		return 0, fmt.Errorf("%q is finer than 0.01%%", s)
	}
	if strings.Contains(num, ".") && frac == "" || whole == "" || len(whole) > 3 || !digits(whole) || !digits(frac) {
		return 0, fmt.Errorf("%q is not a percentage like 5%% or 0.5%%", s)
	}
	w, _ := strconv.Atoi(whole)
	f, _ := strconv.Atoi((frac + "00")[:2])
	bp := w*100 + f
	if bp < 1 || bp > Full {
		return 0, fmt.Errorf("%s is out of range: want above 0%% and at most 100%%", s)
	}
	return bp, nil
}

func digits(s string) bool {
	return !strings.ContainsFunc(s, func(r rune) bool { return r < '0' || r > '9' })
}

// ParseHold reads a hold: a Go duration ("24h", "90m") or whole days
// ("2d"), at least a second and at most [MaxHold], in whole seconds.
func ParseHold(s string) (time.Duration, error) {
	var d time.Duration
	if n, ok := strings.CutSuffix(s, "d"); ok && digits(n) && n != "" && len(n) <= 4 {
		days, _ := strconv.Atoi(n)
		d = time.Duration(days) * 24 * time.Hour
	} else {
		v, err := time.ParseDuration(s)
		if err != nil {
			return 0, fmt.Errorf("hold %q is not a duration like 24h, 90m or 2d", s)
		}
		d = v
	}
	if d < time.Second || d > MaxHold || d%time.Second != 0 {
		return 0, fmt.Errorf("hold %q is out of range: want whole seconds from 1s to %s", s, formatHold(MaxHold))
	}
	return d, nil
}

// FormatPercent prints basis points as a percentage: 500 is "5%", 50 is
// "0.5%", 1234 is "12.34%".
func FormatPercent(bp int) string {
	s := strconv.Itoa(bp/100) + "." + fmt.Sprintf("%02d", bp%100)
	return strings.TrimSuffix(strings.TrimRight(s, "0"), ".") + "%"
}

// formatHold prints a duration the way ParseHold reads it back: whole
// days as "2d", else Go's form without zero units ("36h", "90m", "1h30m").
func formatHold(d time.Duration) string {
	if d >= 24*time.Hour && d%(24*time.Hour) == 0 {
		return fmt.Sprintf("%dd", d/(24*time.Hour))
	}
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// FormatStages prints stages in the form ParseStages reads.
func FormatStages(stages []Stage) string {
	parts := make([]string, len(stages))
	for i, st := range stages {
		p := FormatPercent(st.BasisPoints)
		if len(st.Rings) > 0 {
			p = strings.Join(st.Rings, "+") + ":" + p
		}
		if st.HoldSeconds > 0 {
			p += ":" + formatHold(st.Hold())
		}
		parts[i] = p
	}
	return strings.Join(parts, ",")
}
