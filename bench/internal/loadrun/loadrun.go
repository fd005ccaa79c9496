// Package loadrun runs the shared presignload client (../shared/bench/presignload) for the
// bench programs and summarises its results.
package loadrun

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
)

// Result is one line of presignload -json.
type Result struct {
	Scenario    string  `json:"scenario"`
	Phase       string  `json:"phase"`
	MBps        float64 `json:"mb_per_s"`
	OpsPerSec   float64 `json:"ops_per_s"`
	P50ms       float64 `json:"p50_ms"`
	P99ms       float64 `json:"p99_ms"`
	ServerRSSMB float64 `json:"server_peak_rss_mb"`
}

// Run runs the presignload binary with args (and -json) and returns its results; its
// progress goes to stderr.
func Run(ctx context.Context, binary string, args ...string) ([]Result, error) {
	cmd := exec.CommandContext(ctx, binary, append([]string{"-json"}, args...)...)
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("presignload: %w", err)
	}
	var res []Result
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		var r Result
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			return nil, fmt.Errorf("presignload output %q: %w", line, err)
		}
		res = append(res, r)
	}
	return res, nil
}

// Median is the median of f over rs (the upper one of an even count); rs must not be empty.
func Median[T any](rs []T, f func(T) float64) float64 {
	v := make([]float64, len(rs))
	for i, r := range rs {
		v[i] = f(r)
	}
	slices.Sort(v)
	return v[len(v)/2]
}

// Max is the largest value of f over rs.
func Max(rs []Result, f func(Result) float64) float64 {
	m := 0.0
	for _, r := range rs {
		m = max(m, f(r))
	}
	return m
}
