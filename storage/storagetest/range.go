package storagetest

import (
	"bytes"
	"fmt"
	"io"
	"testing"

	"presign/storage"
)

var rangeTests = []namedTest{
	{"SectionsReadExactly", testRangeSections},
	{"InterleavedRangesOfOneObject", testRangeInterleaved},
}

// onlyReader hides every method of a reader but Read, so io.Copy cannot take a shortcut.
type onlyReader struct{ r io.Reader }

func (o onlyReader) Read(p []byte) (int, error) { return o.r.Read(p) }

// onlyWriter hides every method of a writer but Write.
type onlyWriter struct{ w io.Writer }

func (o onlyWriter) Write(p []byte) (int, error) { return o.w.Write(p) }

func testRangeSections(t *testing.T, be storage.Backend) {
	bucket := newBucket(t, be)
	for _, size := range []int{0, 1, smallSize, largeSize} {
		key := fmt.Sprintf("range/%d", size)
		data := content(key, size)
		mustPut(t, be, bucket, key, data, storage.PutOptions{})
		obj, err := be.GetObject(t.Context(), bucket, key)
		if err != nil {
			t.Fatalf("GetObject: %v", err)
		}
		ranges := [][2]int{{0, 0}, {0, size}, {size, 0}}
		if size > 0 {
			ranges = append(ranges, [2]int{0, 1}, [2]int{size - 1, 1}, [2]int{1, size - 1}, [2]int{size / 3, size / 3})
		}
		// Each range is read three ways: through Read alone, through io.Copy into a
		// ReaderFrom (*bytes.Buffer), and through io.Copy into a plain Writer, which uses the
		// reader's WriteTo if it has one.
		ways := []struct {
			name string
			read func(rc io.Reader) ([]byte, error)
		}{
			{"Read", func(rc io.Reader) ([]byte, error) { return io.ReadAll(onlyReader{rc}) }},
			{"ReaderFrom", func(rc io.Reader) ([]byte, error) {
				var buf bytes.Buffer
				_, err := io.Copy(&buf, rc)
				return buf.Bytes(), err
			}},
			{"Writer", func(rc io.Reader) ([]byte, error) {
				var buf bytes.Buffer
				_, err := io.Copy(onlyWriter{&buf}, rc)
				return buf.Bytes(), err
			}},
		}
		for _, r := range ranges {
			for _, way := range ways {
				t.Run(fmt.Sprintf("%d/%d+%d/%s", size, r[0], r[1], way.name), func(t *testing.T) {
					rc, err := obj.Range(t.Context(), int64(r[0]), int64(r[1]))
					if err != nil {
						t.Fatalf("Range: %v", err)
					}
					got, err := way.read(rc)
					if err != nil {
						t.Fatalf("reading the range: %v", err)
					}
					if err := rc.Close(); err != nil {
						t.Fatalf("closing the range: %v", err)
					}
					if want := data[r[0] : r[0]+r[1]]; !bytes.Equal(got, want) {
						t.Fatalf("range returned %d bytes (md5 %s), want %d (md5 %s)", len(got), md5Hex(got), len(want), md5Hex(want))
					}
				})
			}
		}
		if err := obj.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
	}
}

func testRangeInterleaved(t *testing.T, be storage.Backend) {
	bucket := newBucket(t, be)
	for _, size := range []int{smallSize, largeSize} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			key := fmt.Sprintf("interleaved/%d", size)
			data := content(key, size)
			mustPut(t, be, bucket, key, data, storage.PutOptions{})
			obj, err := be.GetObject(t.Context(), bucket, key)
			if err != nil {
				t.Fatalf("GetObject: %v", err)
			}
			defer obj.Close()
			half := size / 2
			a, err := obj.Range(t.Context(), 0, int64(half))
			if err != nil {
				t.Fatalf("Range: %v", err)
			}
			b, err := obj.Range(t.Context(), int64(half), int64(size-half))
			if err != nil {
				t.Fatalf("Range: %v", err)
			}
			// Alternate small reads of the two ranges: each must keep its own position.
			var gotA, gotB bytes.Buffer
			bufA, bufB := make([]byte, 1000), make([]byte, 777)
			for doneA, doneB := false, false; !doneA || !doneB; {
				if !doneA {
					doneA = readStep(t, a, bufA, &gotA)
				}
				if !doneB {
					doneB = readStep(t, b, bufB, &gotB)
				}
			}
			a.Close()
			b.Close()
			if !bytes.Equal(gotA.Bytes(), data[:half]) || !bytes.Equal(gotB.Bytes(), data[half:]) {
				t.Fatalf("interleaved ranges returned %d and %d bytes that differ from the object's halves", gotA.Len(), gotB.Len())
			}
		})
	}
}

// readStep reads once from r into dst and reports whether r has ended.
func readStep(t *testing.T, r io.Reader, buf []byte, dst *bytes.Buffer) bool {
	t.Helper()
	n, err := r.Read(buf)
	dst.Write(buf[:n])
	if err == io.EOF {
		return true
	}
	if err != nil {
		t.Fatalf("Read: %v", err)
	}
	return false
}
