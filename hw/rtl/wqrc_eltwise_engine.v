// Element-wise layers (docs/format.md section 3), one element per cycle: a residual add
// (NIN = 2: each input moved exactly to the output format, summed, saturated, clamped),
// or a copy (NIN = 1: ReLU, Clip, one input of a concat written at offset OFF of the
// output, or a run of channels read from offset IN_OFF, moved to the output format and saturated), or a lookup-table activation
// (NIN = 1, LUT = 1: y = table[x - QMIN], the table from LUT_FILE; docs/format.md 3d).
`default_nettype none
module wqrc_eltwise_engine #(
    parameter integer N = 1,              // elements per input
    parameter integer NIN = 1,
    parameter integer A0 = 8,
    parameter integer A0_SIGNED = 1,
    parameter integer SH0 = 0,            // the shift of input 0 to the output format
    parameter integer A1 = 8,
    parameter integer A1_SIGNED = 1,
    parameter integer SH1 = 0,
    parameter integer TW = 16,            // bits of the exact aligned sum (add)
    parameter integer OUT_W = 8,
    parameter signed [63:0] LO = -128,
    parameter signed [63:0] HI = 127,
    parameter integer OFF = 0,            // first output element written
    parameter integer IN_OFF = 0,         // first input element read (a block of a channel selection)
    parameter integer COUNT = 1,          // copy: blocks of N elements (a channel shuffle's strided series)
    parameter integer IN_STEP = 0,        // elements between the blocks' starts in the input
    parameter integer OUT_STEP = 0,       // and in the output
    parameter integer LUT = 0,            // 1: a lookup-table activation
    parameter signed [63:0] QMIN = 0,     // LUT: the input format's least code (table entry 0)
    parameter LUT_FILE = "lut.mem",       // LUT: 2^A0 OUT_W-bit hex entries
    parameter integer IN_AW = 8,
    parameter integer OUT_AW = 8
) (
`include "wqrc_engine_ports.vh"
    output wire [IN_AW-1:0]  in_addr,     // the same element of every input
    input  wire [A0-1:0]     in0_d,
    input  wire [A1-1:0]     in1_d,
    output reg  [OUT_W-1:0]  out_d
);
`include "wqrc_engine_regs.vh"
    localparam integer IW = $clog2(N + 1) + 1;
    /* verilator lint_off WIDTH */
`include "wqrc_engine_busy.vh"
    localparam integer JW = $clog2(COUNT + 1) + 1;
    localparam integer BW = $clog2((COUNT - 1) * (IN_STEP > OUT_STEP ? IN_STEP : OUT_STEP) + N + 1) + 1;
    reg running;
    reg [IW-1:0] i;
    reg [JW-1:0] j;                       // the block (0 unless COUNT > 1)
    reg [BW-1:0] ibase, obase;            // its first element in the input and the output
    assign in_addr = IN_OFF + ibase + i;
    always @(posedge clk) begin
        if (rst) begin
            running <= 1'b0;
        end else if (start) begin
            running <= 1'b1; i <= 0; j <= 0; ibase <= 0; obase <= 0;
        end else if (running) begin
            i <= i + 1'b1;
            if (i == N - 1) begin
                i <= 0; j <= j + 1'b1; ibase <= ibase + IN_STEP; obase <= obase + OUT_STEP;
                if (j == COUNT - 1) running <= 1'b0;
            end
        end
    end

    reg s1_v;
    reg [BW-1:0] s1_i;
    wire signed [A0:0] x0 = {A0_SIGNED != 0 && in0_d[A0-1], in0_d};
    /* verilator lint_off UNUSEDSIGNAL */
    wire signed [A1:0] x1 = {A1_SIGNED != 0 && in1_d[A1-1], in1_d};   // unused by a copy
    /* verilator lint_on UNUSEDSIGNAL */
    wire [OUT_W-1:0] y;
    localparam signed [63:0] TMIN = -(64'sd1 <<< (TW - 1));
    localparam signed [63:0] TMAX = (64'sd1 <<< (TW - 1)) - 1;
    generate if (LUT != 0) begin : lut
        reg [OUT_W-1:0] table_rom [0:(1 << A0) - 1];
        initial $readmemh(LUT_FILE, table_rom);
        /* verilator lint_off UNUSEDSIGNAL */
        wire signed [A0+1:0] idx = x0 - QMIN;        // 0 .. 2^A0 - 1 for every code of the format
        /* verilator lint_on UNUSEDSIGNAL */
        assign y = table_rom[idx[A0-1:0]];
    end else if (NIN == 1) begin : copy
        wqrc_requant #(.ACC_W(A0 + 1), .OUT_W(OUT_W), .SHIFT(SH0), .LO(LO), .HI(HI)) rq(.acc(x0), .y(y));
    end else begin : add
        wire [TW-1:0] t0, t1;
        wqrc_requant #(.ACC_W(A0 + 1), .OUT_W(TW), .SHIFT(SH0), .LO(TMIN), .HI(TMAX)) a0(.acc(x0), .y(t0));
        wqrc_requant #(.ACC_W(A1 + 1), .OUT_W(TW), .SHIFT(SH1), .LO(TMIN), .HI(TMAX)) a1(.acc(x1), .y(t1));
        wire signed [TW:0] s = $signed(t0) + $signed(t1);
        wqrc_requant #(.ACC_W(TW + 1), .OUT_W(OUT_W), .SHIFT(0), .LO(LO), .HI(HI)) rq(.acc(s), .y(y));
    end endgenerate
    always @(posedge clk) begin
        s1_v <= running && !rst && !start;
        s1_i <= obase + i;
        we_q <= s1_v && !rst;
        waddr_q <= OFF + s1_i;
        out_d <= y;
        done_q <= busy && !start && !rst && !running && !s1_v && !out_we && !done_q;
    end
    /* verilator lint_on WIDTH */
endmodule
`default_nettype wire
