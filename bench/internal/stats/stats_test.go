package stats

import (
	"testing"
	"time"
)

func TestMedianOfOddEvenAndNoRounds(t *testing.T) {
	id := func(x float64) float64 { return x }
	for _, tc := range []struct {
		name string
		xs   []float64
		want float64
	}{
		{"none", nil, 0},
		{"one", []float64{7}, 7},
		{"odd count, unsorted", []float64{9, 1, 5}, 5},
		{"even count is the mean of the middle two", []float64{4, 1, 10, 2}, 3},
		{"an outlier does not move it", []float64{100, 101, 99, 1e9, 0}, 100},
	} {
		if got := Median(tc.xs, id); got != tc.want {
			t.Errorf("%s: Median(%v) = %v, want %v", tc.name, tc.xs, got, tc.want)
		}
	}
}

func TestMaxIsTheLargestEvenWhenAllAreNegative(t *testing.T) {
	id := func(x float64) float64 { return x }
	for _, tc := range []struct {
		xs   []float64
		want float64
	}{
		{nil, 0},
		{[]float64{3, 9, 2}, 9},
		{[]float64{-5, -2, -7}, -2},
	} {
		if got := Max(tc.xs, id); got != tc.want {
			t.Errorf("Max(%v) = %v, want %v", tc.xs, got, tc.want)
		}
	}
}

func TestPercentileIsTheNearestRank(t *testing.T) {
	hundred := make([]time.Duration, 100) // 1 ms … 100 ms
	for i := range hundred {
		hundred[i] = time.Duration(i+1) * time.Millisecond
	}
	for _, tc := range []struct {
		name   string
		sorted []time.Duration
		p      float64
		want   time.Duration
	}{
		{"no samples", nil, 0.5, 0},
		{"one sample is every percentile", []time.Duration{3}, 0.99, 3},
		{"p50 of 1..100", hundred, 0.50, 50 * time.Millisecond},
		{"p99 of 1..100", hundred, 0.99, 99 * time.Millisecond},
		{"p100 is the largest", hundred, 1, 100 * time.Millisecond},
		{"p99 of 10 samples is the largest", hundred[:10], 0.99, 10 * time.Millisecond},
		{"p50 of 3 is the middle", []time.Duration{1, 2, 3}, 0.5, 2},
	} {
		if got := Percentile(tc.sorted, tc.p); got != tc.want {
			t.Errorf("%s: got %v, want %v", tc.name, got, tc.want)
		}
	}
}
