// One pooling layer (docs/format.md section 3): max pool, average pool or global
// average pool, one window element per cycle.
//
// Max pool keeps its input's format, and padding never wins. Average pool sums the
// window exactly, then applies the divisor rule rshift_round(sum * R, S) for the
// window's element count N (every N the geometry can produce has its own entry in
// the DIV_* tables, and its own wiring-only wqrc_requant), then saturates.
`default_nettype none
module wqrc_pool_engine #(
    parameter integer C = 1, H = 1, W = 1,            // the input map
    parameter integer OH = 1, OW = 1,                 // the output's rows and columns
    parameter integer KH = 1,
    parameter integer KW = 1,
    parameter integer SH = 1,
    parameter integer SW = 1,
    parameter integer DH = 1,
    parameter integer DW = 1,
    parameter integer PT = 0,
    parameter integer PL = 0,
    parameter integer MAX = 1,              // 1: max pool, 0: average
    parameter integer INCLUDE_PAD = 0,      // average over KH*KW whatever the padding
    parameter integer A = 8,
    parameter integer A_SIGNED = 1,
    parameter integer OUT_W = 8,
    parameter signed [63:0] LO = -128,
    parameter signed [63:0] HI = 127,
    parameter integer NT = 1,               // divisor entries: (N, R, S), 32 bits each
    parameter [32*NT-1:0] DIV_N = 0,
    parameter [32*NT-1:0] DIV_R = 0,
    parameter [32*NT-1:0] DIV_S = 0,
    parameter integer RW = 18,              // bits of the largest R
    parameter integer IN_AW = 8,
    parameter integer OUT_AW = 8
) (
`include "wqrc_engine_ports.vh"
    output wire [IN_AW-1:0]  in_addr,
    input  wire [A-1:0]      in_d,
    output reg  [OUT_W-1:0]  out_d
);
`include "wqrc_engine_regs.vh"
    localparam integer XW = $clog2(C * H * W + (OH * SH + KH * DH + PT + 2) * (OW * SW + KW * DW + W + PL + 2)) + 2;
    localparam integer KN = KH * KW;
    localparam integer NB = $clog2(KN + 1) + 1;
    localparam integer SUMW = A + NB + 1;                    // signed window sum
    localparam integer PW = SUMW + RW + 1;                   // signed sum * R
    localparam integer CW = $clog2(C + OH + OW + KH + KW + 2) + 1;

    /* verilator lint_off WIDTH */
`include "wqrc_engine_busy.vh"
    reg running;
    reg [CW-1:0] c, oy, ox, ky, kx;
    wire last_k = ky == KH - 1 && kx == KW - 1;
    wire last_all = last_k && ox == OW - 1 && oy == OH - 1 && c == C - 1;
    wire signed [XW-1:0] iy = oy * SH - PT + ky * DH;
    wire signed [XW-1:0] ix = ox * SW - PL + kx * DW;
    wire ok = iy >= 0 && iy < H && ix >= 0 && ix < W;
    wire signed [XW-1:0] addr = c * H * W + iy * W + ix;
    reg [IN_AW-1:0] a_addr;
    always @(posedge clk) a_addr <= ok ? addr : 0;   // registered; truncated: it fits
    assign in_addr = a_addr;

    always @(posedge clk) begin
        if (rst) begin
            running <= 1'b0;
        end else if (start) begin
            running <= 1'b1; c <= 0; oy <= 0; ox <= 0; ky <= 0; kx <= 0;
        end else if (running) begin
            if (last_all) running <= 1'b0;
            if (kx != KW - 1) kx <= kx + 1'b1;
            else begin
                kx <= 0;
                if (ky != KH - 1) ky <= ky + 1'b1;
                else begin
                    ky <= 0;
                    if (ox != OW - 1) ox <= ox + 1'b1;
                    else begin
                        ox <= 0;
                        if (oy != OH - 1) oy <= oy + 1'b1;
                        else begin oy <= 0; c <= c + 1'b1; end
                    end
                end
            end
        end
    end

    // read: the element arrives; fold it into the window
    reg a_v, a_first, a_last, a_ok;
    reg s1_v, s1_first, s1_last, s1_ok;
    always @(posedge clk) begin
        a_v <= running && !rst && !start;
        a_first <= ky == 0 && kx == 0; a_last <= last_k; a_ok <= ok;
        s1_v <= a_v && !rst;
        s1_first <= a_first; s1_last <= a_last; s1_ok <= a_ok;
    end
    wire signed [A:0] xv = {A_SIGNED != 0 && in_d[A-1], in_d};
    reg signed [SUMW-1:0] sum;           // the window so far (max: the best element)
    reg [NB-1:0] n;                      // elements counted so far
    reg found;
    wire seen = found && !s1_first;      // an element of this window came before
    wire signed [SUMW-1:0] best_now = (s1_ok && (!seen || xv > sum)) ? xv : (seen ? sum : 0);
    wire signed [SUMW-1:0] sum_now = (s1_first ? 0 : sum) + (s1_ok ? xv : 0);
    wire [NB-1:0] n_now = (s1_first ? 0 : n) + s1_ok;
    wire signed [SUMW-1:0] acc_now = MAX != 0 ? best_now : sum_now;

    // the average's divisor for each N, selected by the count
    wire [NB-1:0] n_div = INCLUDE_PAD != 0 ? KN : n_now;
    wire [OUT_W*NT-1:0] ys;
    genvar k;
    generate for (k = 0; k < NT; k = k + 1) begin : div
        wire signed [PW-1:0] prod = acc_now * $signed({1'b0, DIV_R[32*k +: RW]});
        wqrc_requant #(.ACC_W(PW), .OUT_W(OUT_W), .SHIFT(DIV_S[32*k +: 32]), .LO(LO), .HI(HI)) rq(
            .acc(prod), .y(ys[OUT_W*k +: OUT_W]));
    end endgenerate
    reg [OUT_W-1:0] avg;
    integer j;
    always @* begin
        avg = ys[OUT_W-1:0];
        for (j = 0; j < NT; j = j + 1)
            if (n_div == DIV_N[32*j +: 32]) avg = ys[OUT_W*j +: OUT_W];
    end

    always @(posedge clk) begin
        we_q <= 1'b0;
        if (rst) begin
            waddr_q <= 0;
        end else if (start) begin
            waddr_q <= 0;
        end else if (s1_v) begin
            sum <= acc_now; n <= n_now; found <= seen || s1_ok;
            if (s1_last) begin
                we_q <= 1'b1;
                out_d <= MAX != 0 ? acc_now[OUT_W-1:0] : avg;
            end
        end
        if (we_q) waddr_q <= waddr_q + 1'b1;
        done_q <= busy && !start && !rst && !running && !a_v && !s1_v && !out_we && !done_q;
    end
    /* verilator lint_on WIDTH */
endmodule
`default_nettype wire
