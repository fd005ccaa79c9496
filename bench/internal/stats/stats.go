// Package stats summarises benchmark rounds: the median and maximum of a figure across rounds,
// and latency percentiles. On a noisy machine a bench program reports medians of several
// alternated rounds, never one run.
package stats

import (
	"slices"
	"time"
)

// Median is the median of f over xs: the middle value, or the mean of the two middle values of
// an even count. It is 0 for no xs.
func Median[T any](xs []T, f func(T) float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	v := make([]float64, len(xs))
	for i, x := range xs {
		v[i] = f(x)
	}
	slices.Sort(v)
	m := len(v) / 2
	if len(v)%2 == 1 {
		return v[m]
	}
	return (v[m-1] + v[m]) / 2
}

// Max is the largest value of f over xs, or 0 for no xs.
func Max[T any](xs []T, f func(T) float64) float64 {
	m := 0.0
	for i, x := range xs {
		if v := f(x); i == 0 || v > m {
			m = v
		}
	}
	return m
}

// Percentile is the p-th quantile (0 < p ≤ 1) of sorted by nearest rank: the smallest value
// that at least a fraction p of the samples do not exceed. It is 0 for no samples.
func Percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	// Nearest rank: ceil(p·n), counted from 1. The epsilon keeps p·n that is whole in exact
	// arithmetic (0.99·100) from rounding up past it in floating point.
	rank := int(p*float64(len(sorted)) - 1e-9)
	return sorted[min(max(rank, 0), len(sorted)-1)]
}
