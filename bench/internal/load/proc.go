package load

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// Process reads a running process's memory and CPU figures from Linux's /proc.
type Process struct{ PID int }

// ResetPeakRSS restarts the kernel's record of the process's peak resident set (VmHWM), so
// that PeakRSSMiB covers what happens from now on rather than the process's whole life.
func (p Process) ResetPeakRSS() error {
	if err := os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", p.PID), []byte("5"), 0); err != nil {
		return fmt.Errorf("reset the peak RSS of process %d: %w", p.PID, err)
	}
	return nil
}

// PeakRSSMiB is the process's peak resident set (VmHWM) in MiB.
func (p Process) PeakRSSMiB() (float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.PID))
	if err != nil {
		return 0, err
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 64)
			if err != nil {
				return 0, fmt.Errorf("/proc/%d/status: VmHWM %q", p.PID, v)
			}
			return kb / 1024, nil
		}
	}
	return 0, fmt.Errorf("/proc/%d/status has no VmHWM", p.PID)
}

// CPUSeconds is the user and system CPU time the process has used, in seconds.
func (p Process) CPUSeconds() (float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p.PID))
	if err != nil {
		return 0, err
	}
	// The command name, field 2, is in parentheses and may hold spaces; utime and stime are
	// fields 14 and 15, the 12th and 13th after it.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc/%d/stat: no command name", p.PID)
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: %d fields after the name", p.PID, len(f))
	}
	utime, err1 := strconv.ParseUint(f[11], 10, 64)
	stime, err2 := strconv.ParseUint(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("/proc/%d/stat: utime %q, stime %q", p.PID, f[11], f[12])
	}
	// In clock ticks: USER_HZ, which Linux fixes at 100 for user space on every architecture.
	return float64(utime+stime) / 100, nil
}

// watch measures a phase of a scenario: its wall time and, when pid is set, the server's
// peak RSS and CPU time during it.
type watch struct{ pid int }

// phase runs do and fills r's Seconds and server figures.
func (w watch) phase(r *Result, do func() error) error {
	p := Process{w.pid}
	var cpu0 float64
	if w.pid != 0 {
		if err := p.ResetPeakRSS(); err != nil {
			return err
		}
		var err error
		if cpu0, err = p.CPUSeconds(); err != nil {
			return err
		}
	}
	start := time.Now()
	if err := do(); err != nil {
		return err
	}
	r.Seconds = time.Since(start).Seconds()
	if w.pid == 0 {
		return nil
	}
	rss, err := p.PeakRSSMiB()
	if err != nil {
		return err
	}
	cpu1, err := p.CPUSeconds()
	if err != nil {
		return err
	}
	r.ServerPeakRSSMiB, r.ServerCPUSeconds = rss, cpu1-cpu0
	return nil
}
