// Prints src/ir/casemap_table.rs: the case mappings equals-ignore-case and its prefix, suffix and
// anything-but forms use, as Java 17 computes them. scripts/gen-case-tables runs it; the test
// script runs it again and fails when the committed table differs.
//
// For every code point c (surrogates excluded) the program asks Java for
//   lower(c) = new String(Character.toChars(c)).toLowerCase(Locale.ROOT)
//   upper(c) = new String(Character.toChars(c)).toUpperCase(Locale.ROOT)
// (full mappings: one code point may map to several). A pattern character c accepts exactly the
// texts lower(c) and upper(c). It also derives key(c), the per-code-point key weir indexes
// equals-ignore-case values by, and checks the facts the matcher relies on:
//   - for every c, key(lower(c)) == key(c) == key(upper(c)) (key of a string: the keys of its
//     code points, concatenated), so a text a pattern accepts has the pattern's key;
//   - lower(c) and upper(c) are neither a prefix nor a suffix of one another, so at most one of
//     them fits at any place of a text and matching never backtracks.
// Any violation stops the program with a message instead of printing a table.

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

public final class CaseMap {
    private static final int MAX = 0x10FFFF;

    private static boolean isSurrogate(int c) {
        return c >= 0xD800 && c <= 0xDFFF;
    }

    private static String str(int c) {
        return new String(Character.toChars(c));
    }

    private static int[] cps(String s) {
        return s.codePoints().toArray();
    }

    private static String lower(int c) {
        return str(c).toLowerCase(Locale.ROOT);
    }

    private static String upper(int c) {
        return str(c).toUpperCase(Locale.ROOT);
    }

    /** One run of a table: code points first..last (every step-th) map to themselves + delta,
     * or (step 0, first == last) to strings[delta]. */
    private static final class Run {
        final int first;
        int last;
        int step;
        final int delta;

        Run(int first, int step, int delta) {
            this.first = first;
            this.last = first;
            this.step = step;
            this.delta = delta;
        }
    }

    private final Map<String, Integer> strings = new LinkedHashMap<>();

    private int stringIndex(String s) {
        return strings.computeIfAbsent(s, k -> strings.size());
    }

    /** Runs for a mapping given as one string per code point (null: maps to itself). */
    private List<Run> runs(String[] map) {
        List<Run> out = new ArrayList<>();
        Run open = null;
        for (int c = 0; c <= MAX; c++) {
            String m = map[c];
            if (m == null) {
                continue;
            }
            int[] to = cps(m);
            if (to.length != 1) {
                out.add(new Run(c, 0, stringIndex(m)));
                open = null;
                continue;
            }
            int delta = to[0] - c;
            if (open != null && open.delta == delta) {
                int gap = c - open.last;
                boolean undecided = open.first == open.last;
                if ((undecided && (gap == 1 || gap == 2)) || (!undecided && gap == open.step)) {
                    open.step = gap;
                    open.last = c;
                    continue;
                }
            }
            open = new Run(c, 1, delta);
            out.add(open);
        }
        return out;
    }

    private static String hex(int c) {
        return String.format("0x%04X", c);
    }

    private static String rustString(String s) {
        StringBuilder b = new StringBuilder("\"");
        for (int c : cps(s)) {
            if (c < 0x80 && c >= 0x20 && c != '"' && c != '\\') {
                b.append((char) c);
            } else {
                b.append(String.format("\\u{%X}", c));
            }
        }
        return b.append('"').toString();
    }

    private static String show(String s) {
        StringBuilder b = new StringBuilder();
        for (int c : cps(s)) {
            b.append(String.format(" U+%04X", c));
        }
        return b.toString().trim();
    }

    private static void fail(String why) {
        System.err.println("CaseMap: " + why);
        System.exit(1);
    }

    private static String keyOf(String[] key, String s) {
        StringBuilder b = new StringBuilder();
        for (int c : cps(s)) {
            b.append(key[c] == null ? str(c) : key[c]);
        }
        return b.toString();
    }

    private static boolean affix(String a, String b) {
        return a.startsWith(b) || b.startsWith(a) || a.endsWith(b) || b.endsWith(a);
    }

    private void printTable(StringBuilder out, String name, String what, List<Run> runs) {
        out.append("/// ").append(what).append("\n");
        out.append("pub(super) static ").append(name).append(": [Run; ").append(runs.size())
                .append("] = [\n");
        for (Run r : runs) {
            out.append("    (").append(hex(r.first)).append(", ").append(hex(r.last)).append(", ")
                    .append(r.step).append(", ").append(r.delta).append("),\n");
        }
        out.append("];\n\n");
    }

    private String run() {
        if (Runtime.version().feature() != 17) {
            fail("the table is Java 17's (Unicode 13.0); this is Java " + Runtime.version());
        }
        String[] lower = new String[MAX + 1];
        String[] upper = new String[MAX + 1];
        String[] key0 = new String[MAX + 1];
        for (int c = 0; c <= MAX; c++) {
            if (isSurrogate(c)) {
                continue;
            }
            String self = str(c);
            String lo = lower(c);
            String up = upper(c);
            if (!lo.equals(self)) {
                lower[c] = lo;
            }
            if (!up.equals(self)) {
                upper[c] = up;
            }
            if (affix(lo, up) && !lo.equals(up)) {
                fail(String.format("U+%04X: %s and %s overlap", c, show(lo), show(up)));
            }
            // key0(c): the lower case of each code point of upper(c).
            StringBuilder k = new StringBuilder();
            for (int u : cps(up)) {
                k.append(lower(u));
            }
            if (!k.toString().equals(self)) {
                key0[c] = k.toString();
            }
        }
        // key(c): key0 applied to every code point until nothing changes.
        String[] key = new String[MAX + 1];
        for (int c = 0; c <= MAX; c++) {
            if (key0[c] == null) {
                continue;
            }
            String k = key0[c];
            for (int round = 0; ; round++) {
                String next = keyOf(key0, k);
                if (next.equals(k)) {
                    break;
                }
                if (round == 8) {
                    fail(String.format("U+%04X: the key does not settle", c));
                }
                k = next;
            }
            key[c] = k;
        }
        for (int c = 0; c <= MAX; c++) {
            if (isSurrogate(c)) {
                continue;
            }
            String kc = keyOf(key, str(c));
            if (!keyOf(key, lower(c)).equals(kc) || !keyOf(key, upper(c)).equals(kc)) {
                fail(String.format("U+%04X: its cases have different keys", c));
            }
        }
        List<Run> lowerRuns = runs(lower);
        List<Run> upperRuns = runs(upper);
        List<Run> keyRuns = runs(key);

        StringBuilder out = new StringBuilder();
        out.append("// @generated by scripts/gen-case-tables (scripts/casemap/CaseMap.java) from Java ")
                .append(Runtime.version().feature()).append(": do not edit.\n");
        out.append("//! Java 17's case mappings (Unicode 13.0), as `String.toLowerCase(Locale.ROOT)` and\n");
        out.append("//! `String.toUpperCase(Locale.ROOT)` compute them for a string of one code point,\n");
        out.append("//! and the key weir indexes `equals-ignore-case` values by.\n");
        out.append("//!\n");
        out.append("//! A [`Run`] `(first, last, step, delta)` maps the code points `first, first + step, ..,\n");
        out.append("//! last` to themselves plus `delta`; with `step` 0 (`first == last`) it maps `first` to\n");
        out.append("//! the string `STRINGS[delta]`. Code points no run covers map to themselves. Runs are\n");
        out.append("//! sorted and do not overlap.\n\n");
        out.append("/// `(first, last, step, delta)`: see the module documentation.\n");
        out.append("pub(super) type Run = (u32, u32, u32, i32);\n\n");
        printTable(out, "LOWER", "`lower(c)`: Java's `toLowerCase(Locale.ROOT)` of one code point.", lowerRuns);
        printTable(out, "UPPER", "`upper(c)`: Java's `toUpperCase(Locale.ROOT)` of one code point.", upperRuns);
        printTable(out, "KEY", "`key(c)`: the lower case of each code point of `upper(c)`, repeated until it settles.",
                keyRuns);
        out.append("/// The mappings to more than one code point.\n");
        out.append("pub(super) static STRINGS: [&str; ").append(strings.size()).append("] = [\n");
        for (String s : strings.keySet()) {
            out.append("    ").append(rustString(s)).append(",\n");
        }
        out.append("];\n");
        return out.toString();
    }

    public static void main(String[] args) {
        String table = new CaseMap().run();
        System.out.print(table);
    }
}
