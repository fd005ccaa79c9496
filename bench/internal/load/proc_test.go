package load

import (
	"os"
	"runtime"
	"testing"
)

func TestProcessFiguresOfThisProcess(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the figures come from Linux's /proc")
	}
	p := Process{os.Getpid()}
	if err := p.ResetPeakRSS(); err != nil {
		t.Fatal(err)
	}
	before, err := p.CPUSeconds()
	if err != nil {
		t.Fatal(err)
	}
	// 64 MiB touched after the reset raise the peak at least that far.
	buf := make([]byte, 64<<20)
	for i := range buf {
		buf[i] = byte(i)
	}
	rss, err := p.PeakRSSMiB()
	if err != nil {
		t.Fatal(err)
	}
	if rss < 64 {
		t.Errorf("peak RSS %.1f MiB after touching 64 MiB", rss)
	}
	// Touching it took CPU; spin until a clock tick shows it.
	after := before
	for after == before {
		if after, err = p.CPUSeconds(); err != nil {
			t.Fatal(err)
		}
	}
	if after < before {
		t.Errorf("CPU time went back from %v to %v", before, after)
	}
	runtime.KeepAlive(buf)
}

func TestProcessThatDoesNotExistIsAnError(t *testing.T) {
	p := Process{1 << 30} // above the kernel's pid_max
	if _, err := p.PeakRSSMiB(); err == nil {
		t.Error("PeakRSSMiB of no process: no error")
	}
	if _, err := p.CPUSeconds(); err == nil {
		t.Error("CPUSeconds of no process: no error")
	}
	if err := p.ResetPeakRSS(); err == nil {
		t.Error("ResetPeakRSS of no process: no error")
	}
}
