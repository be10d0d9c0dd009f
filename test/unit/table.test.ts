import { test } from "node:test";
import assert from "node:assert/strict";
import { renderTable } from "../../lib/cli/table";

test("renderTable pads every column but the last to its widest cell", () => {
  const cases: { headers: string[]; rows: string[][]; want: string }[] = [
    { headers: ["A", "B"], rows: [], want: "A  B" },
    {
      headers: ["NAME", "IP"],
      rows: [
        ["dns", "192.168.10.6"],
        ["traefik-long", ""],
      ],
      want: "NAME          IP\ndns           192.168.10.6\ntraefik-long",
    },
  ];
  for (const c of cases) assert.equal(renderTable(c.headers, c.rows), c.want);
});
