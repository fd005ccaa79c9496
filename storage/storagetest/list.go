package storagetest

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"presign/storage"
)

var listTests = []namedTest{
	{"EmptyBucket", testListEmpty},
	{"PagesCoverEveryEntryOnce", testListPaging},
	{"AfterStartsStrictlyAfter", testListAfter},
	{"ObjectsCarryTheirInfo", testListInfo},
}

// listKeys are neighbours in byte order that trip up prefix and delimiter handling.
var listKeys = []string{
	"a", "a+b", "a b", "a/", "a/b", "a/b/c", "a/b/d", "a/b/c/e", "a/c", "a//d", "a0", "b", "b/", "b/x",
	"b//y", "../x", "./y", "ü/x", "ü/y/z", "日本/語/z", "日本語", " lead", "trail ", "x%2Fy",
	"long/" + strings.Repeat("x", 1019), "long/" + strings.Repeat("y", 1019), strings.Repeat("z", 1024),
}

// listEntry is one entry of a listing: a key, or a common prefix.
type listEntry struct {
	name   string
	prefix bool
}

func (e listEntry) String() string {
	if e.prefix {
		return e.name + " (prefix)"
	}
	return e.name
}

// expectedListing is the listing the contract describes, over sorted keys, ignoring MaxKeys.
func expectedListing(keys []string, opts storage.ListOptions) []listEntry {
	var out []listEntry
	for _, k := range keys {
		if !strings.HasPrefix(k, opts.Prefix) {
			continue
		}
		if i := strings.Index(k[len(opts.Prefix):], opts.Delimiter); opts.Delimiter != "" && i >= 0 {
			cp := k[:len(opts.Prefix)+i+len(opts.Delimiter)]
			if cp > opts.After && (len(out) == 0 || out[len(out)-1].name != cp) {
				out = append(out, listEntry{cp, true})
			}
			continue
		}
		if k > opts.After {
			out = append(out, listEntry{k, false})
		}
	}
	return out
}

// pageEntries merges a page's objects and common prefixes in order, failing t if either is out
// of order or the page exceeds maxKeys.
func pageEntries(t *testing.T, page storage.ListPage, maxKeys int) []listEntry {
	t.Helper()
	var es []listEntry
	for _, o := range page.Objects {
		es = append(es, listEntry{o.Key, false})
	}
	for _, p := range page.CommonPrefixes {
		es = append(es, listEntry{p, true})
	}
	if !slices.IsSortedFunc(page.Objects, func(a, b storage.ObjectInfo) int { return strings.Compare(a.Key, b.Key) }) ||
		!slices.IsSorted(page.CommonPrefixes) {
		t.Fatalf("page not in key order: %v", es)
	}
	if len(es) > maxKeys {
		t.Fatalf("page has %d entries, MaxKeys is %d", len(es), maxKeys)
	}
	slices.SortFunc(es, func(a, b listEntry) int { return strings.Compare(a.name, b.name) })
	return es
}

// listPages pages through a listing from opts.After and returns every entry.
func listPages(t *testing.T, be storage.Backend, opts storage.ListOptions) []listEntry {
	t.Helper()
	var all []listEntry
	for pages := 0; ; pages++ {
		if pages > 2*len(listKeys)+2 {
			t.Fatalf("paging does not end: %v so far", all)
		}
		page, err := be.ListObjects(t.Context(), "bucket", opts)
		if err != nil {
			t.Fatalf("ListObjects(%+v): %v", opts, err)
		}
		es := pageEntries(t, page, opts.MaxKeys)
		all = append(all, es...)
		if !page.Truncated {
			return all
		}
		if len(es) == 0 {
			t.Fatalf("a truncated page with no entries (%+v)", opts)
		}
		if last := es[len(es)-1].name; page.NextAfter != last {
			t.Fatalf("NextAfter = %q, want the page's last entry %q", page.NextAfter, last)
		}
		opts.After = page.NextAfter
	}
}

// putListKeys stores listKeys (shortened to what the backend can store) and returns them
// sorted.
func putListKeys(t *testing.T, be storage.Backend) []string {
	newBucket(t, be)
	keys := fitKeys(be, "bucket", listKeys)
	for _, k := range keys {
		mustPut(t, be, "bucket", k, []byte(k), storage.PutOptions{})
	}
	return slices.Sorted(slices.Values(keys))
}

func testListEmpty(t *testing.T, be storage.Backend) {
	newBucket(t, be)
	for _, opts := range []storage.ListOptions{{MaxKeys: 1}, {Prefix: "a", Delimiter: "/", MaxKeys: 1000}} {
		page, err := be.ListObjects(t.Context(), "bucket", opts)
		if err != nil {
			t.Fatalf("ListObjects: %v", err)
		}
		if len(page.Objects)+len(page.CommonPrefixes) != 0 || page.Truncated {
			t.Fatalf("empty bucket lists %+v", page)
		}
	}
}

// listQueries are the prefix and delimiter pairs the listing tests try.
var listQueries = []storage.ListOptions{
	{}, {Delimiter: "/"}, {Prefix: "a"}, {Prefix: "a", Delimiter: "/"}, {Prefix: "a/", Delimiter: "/"},
	{Prefix: "a/b/", Delimiter: "/"}, {Prefix: "a/b", Delimiter: "/"}, {Prefix: "日本/", Delimiter: "/"},
	{Prefix: "ü", Delimiter: "/"}, {Delimiter: "b"}, {Delimiter: "//"}, {Prefix: "b", Delimiter: "/"},
	{Prefix: "long/", Delimiter: "/"}, {Prefix: "none", Delimiter: "/"}, {Prefix: "../", Delimiter: "/"},
}

func testListPaging(t *testing.T, be storage.Backend) {
	keys := putListKeys(t, be)
	for _, q := range listQueries {
		want := expectedListing(keys, q)
		for _, maxKeys := range []int{1, 2, 3, 7, 1000} {
			opts := q
			opts.MaxKeys = maxKeys
			t.Run(fmt.Sprintf("prefix=%q,delim=%q,max=%d", q.Prefix, q.Delimiter, maxKeys), func(t *testing.T) {
				if got := listPages(t, be, opts); !slices.Equal(got, want) {
					t.Fatalf("pages list\n%v\nwant\n%v", got, want)
				}
			})
		}
	}
}

func testListAfter(t *testing.T, be storage.Backend) {
	keys := putListKeys(t, be)
	afters := []string{"", "a", "a/", "a/b", "a/b/c", "a0", "b/", "ü", "zzzz", strings.Repeat("z", 1024), "\U0010FFFF"}
	for _, q := range listQueries {
		for _, after := range afters {
			opts := q
			opts.After, opts.MaxKeys = after, 1000
			t.Run(fmt.Sprintf("prefix=%q,delim=%q,after=%.12q", q.Prefix, q.Delimiter, after), func(t *testing.T) {
				want := expectedListing(keys, opts)
				page, err := be.ListObjects(t.Context(), "bucket", opts)
				if err != nil {
					t.Fatalf("ListObjects: %v", err)
				}
				if got := pageEntries(t, page, opts.MaxKeys); !slices.Equal(got, want) || page.Truncated {
					t.Fatalf("listed %v (truncated %v), want %v", got, page.Truncated, want)
				}
			})
		}
	}
}

func testListInfo(t *testing.T, be storage.Backend) {
	newBucket(t, be)
	sizes := map[string]int{"x/small": smallSize, "x/large": largeSize, "x/empty": 0}
	for k, n := range sizes {
		mustPut(t, be, "bucket", k, content(k, n), storage.PutOptions{Meta: storage.Metadata{ContentType: "a/b"}})
	}
	page, err := be.ListObjects(t.Context(), "bucket", storage.ListOptions{Prefix: "x/", MaxKeys: 10})
	if err != nil {
		t.Fatalf("ListObjects: %v", err)
	}
	if len(page.Objects) != len(sizes) {
		t.Fatalf("listed %d objects, want %d", len(page.Objects), len(sizes))
	}
	for _, o := range page.Objects {
		data := content(o.Key, sizes[o.Key])
		if o.Bucket != "bucket" || o.Size != int64(len(data)) || o.ETag != md5Hex(data) || o.LastModified.IsZero() {
			t.Errorf("listed %+v, want bucket, size %d, ETag %s and a LastModified", o, len(data), md5Hex(data))
		}
	}
}
