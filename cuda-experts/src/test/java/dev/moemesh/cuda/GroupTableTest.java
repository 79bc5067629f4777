package dev.moemesh.cuda;

import org.junit.jupiter.api.Test;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;

import static org.junit.jupiter.api.Assertions.assertEquals;

class GroupTableTest {

    @Test
    void decodeSizedGroupsComeFirstAndLargeOnesCountTheirTiles() {
        // group sizes 1, 0, 300, 8, 9, 128, 129
        GroupTable t = GroupTable.plan(new int[] {0, 1, 1, 301, 309, 318, 446, 575}, 7);
        assertEquals(6, t.entries());
        assertEquals(2, t.small());
        assertEquals(4, t.large());
        int[] groups = {0, 3, 2, 4, 5, 6};
        int[] rows = {1, 8, 300, 9, 128, 129};
        int[] tileStarts = {0, 0, 0, 3, 4, 5};
        for (int e = 0; e < t.entries(); e++) {
            assertEquals(groups[e], t.group(e), "entry " + e);
            assertEquals(rows[e], t.rows(e), "entry " + e);
            assertEquals(tileStarts[e], t.tileStart(e), "entry " + e);
        }
        assertEquals(3 + 1 + 1 + 2, t.tiles());
    }

    @Test
    void groupStartsPastTheBatchsGroupsAreIgnored() {
        // a reusable batch after a larger layer: 2 groups now (sizes 3, 10), stale starts of 5 more groups behind
        int[] groupStart = {0, 3, 13, 300, 301, 309, 318, 446};
        GroupTable t = GroupTable.plan(groupStart, 2);
        assertEquals(2, t.entries());
        assertEquals(1, t.small());
        assertEquals(1, t.tiles());
        ByteBuffer out = ByteBuffer.allocate(t.bytes()).order(ByteOrder.LITTLE_ENDIAN);
        t.write(out, new long[] {0x1000, 0x2000}, new long[] {0x1100, 0x2100});  // one address per group in use
        assertEquals(0, out.remaining());
    }

    @Test
    void entriesAreTheKernelsStructLittleEndian() {
        GroupTable t = GroupTable.plan(new int[] {0, 200, 203}, 2);
        ByteBuffer out = ByteBuffer.allocate(t.bytes()).order(ByteOrder.LITTLE_ENDIAN);
        t.write(out, new long[] {0x1000, 0x2000}, new long[] {0x1100, 0x2100});
        out.flip();
        // small group (expert 1, rows 200..202) first
        assertEquals(0x2000, out.getLong());
        assertEquals(0x2100, out.getLong());
        assertEquals(200, out.getInt());
        assertEquals(3, out.getInt());
        assertEquals(0, out.getInt());
        assertEquals(0, out.getInt());
        assertEquals(0x1000, out.getLong());
        assertEquals(0x1100, out.getLong());
        assertEquals(0, out.getInt());
        assertEquals(200, out.getInt());
        assertEquals(0, out.getInt());
        assertEquals(0, out.getInt());
        assertEquals(0, out.remaining());
    }
}
