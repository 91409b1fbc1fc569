// The product of two activations (docs/format.md section 3e), one element per cycle:
// y = clamp(sat(rshift_round(a * b, SH))), the product exact in A0 + A1 + 2 bits. With
// B_BCAST = 1 the second input is one value per channel (C, 1, 1), a squeeze-and-excitation
// gate: the engine reads it once per channel, one cycle before the channel's HW elements,
// at address c (both inputs share the read address; the gate's RAM is the smaller one).
`default_nettype none
module wqrc_mul_engine #(
    parameter integer C = 1,              // channels
    parameter integer HW = 1,             // elements per channel of the first input
    parameter integer B_BCAST = 0,        // 1: the second input is (C, 1, 1)
    parameter integer A0 = 8,
    parameter integer A0_SIGNED = 1,
    parameter integer A1 = 8,
    parameter integer A1_SIGNED = 1,
    parameter integer SH = 0,             // sh = f_y - (f_a + f_b)
    parameter integer OUT_W = 8,
    parameter signed [63:0] LO = -128,
    parameter signed [63:0] HI = 127,
    parameter integer IN_AW = 8,
    parameter integer OUT_AW = 8
) (
`include "wqrc_engine_ports.vh"
    output wire [IN_AW-1:0]  in_addr,
    input  wire [A0-1:0]     in0_d,
    input  wire [A1-1:0]     in1_d,
    output reg  [OUT_W-1:0]  out_d
);
`include "wqrc_engine_regs.vh"
    localparam integer N = C * HW;
    localparam integer IW = $clog2(N + 1) + 1;
    localparam integer CW = $clog2(C + 1) + 1;
    localparam integer JW = $clog2(HW + 1) + 1;
    /* verilator lint_off WIDTH */
`include "wqrc_engine_busy.vh"
    reg running, fetch;
    reg [IW-1:0] i;
    reg [CW-1:0] c;
    reg [JW-1:0] j;
    assign in_addr = (B_BCAST != 0 && fetch) ? c : i;
    always @(posedge clk) begin
        if (rst) begin
            running <= 1'b0; fetch <= 1'b0;
        end else if (start) begin
            running <= 1'b1; i <= 0; c <= 0; j <= 0; fetch <= B_BCAST != 0;
        end else if (running) begin
            if (fetch) begin
                fetch <= 1'b0;
            end else begin
                i <= i + 1'b1;
                if (j == HW - 1) begin
                    j <= 0; c <= c + 1'b1;
                    if (B_BCAST != 0) fetch <= 1'b1;
                    if (c == C - 1) begin
                        running <= 1'b0; fetch <= 1'b0;
                    end
                end else begin
                    j <= j + 1'b1;
                end
            end
        end
    end

    // the data of the previous cycle's address: the gate into bq, or an element of a
    reg s1_v, s1_fetch;
    reg [OUT_AW-1:0] s1_i;
    reg [A1-1:0] bq;
    wire signed [A0:0] x0 = {A0_SIGNED != 0 && in0_d[A0-1], in0_d};
    wire [A1-1:0] b_raw = (B_BCAST != 0) ? bq : in1_d;
    wire signed [A1:0] x1 = {A1_SIGNED != 0 && b_raw[A1-1], b_raw};
    wire signed [A0+A1+1:0] prod = x0 * x1;
    wire [OUT_W-1:0] y;
    wqrc_requant #(.ACC_W(A0 + A1 + 2), .OUT_W(OUT_W), .SHIFT(SH), .LO(LO), .HI(HI)) rq(.acc(prod), .y(y));
    always @(posedge clk) begin
        s1_v <= running && !fetch && !rst && !start;
        s1_fetch <= running && fetch && !rst && !start;
        s1_i <= i;
        if (s1_fetch) bq <= in1_d;
        we_q <= s1_v && !rst;
        waddr_q <= s1_i;
        out_d <= y;
        done_q <= busy && !start && !rst && !running && !s1_v && !s1_fetch && !out_we && !done_q;
    end
    /* verilator lint_on WIDTH */
endmodule
`default_nettype wire
