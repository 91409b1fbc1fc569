// One conv or dense layer (docs/format.md section 3) on P processing elements.
//
// The lanes work on P neighbouring output pixels of one output channel, so they share
// one weight code per cycle (read straight from the packer's ROM image, where a code
// may straddle two words) and each reads its own activation (the input RAM has P read
// ports). Loop nest, outermost first: output channel, group of P pixels (row-major,
// wrapping rows), tap (input channel of the group, ky, kx: the ROM's C order, so the
// codes of one filter are read in sequence). A dense layer is a 1x1 conv of a 1x1 map,
// and so uses one lane.
//
// Pipeline: issue (the loop nest) -> address (registered) -> read (ROM and RAM data) -> align (the code is cut
// from its words, padding applied) -> accumulate (the PEs) -> capture (the P sums move
// to a shift register) -> drain (one requantized output written per cycle while the
// next pixels accumulate). A group of T taps is followed
// by max(0, P - T) idle cycles so that the drain of P outputs is always done in time:
// every cycle count is fixed by the geometry, which is what makes the report's cycle
// figure exact.
`default_nettype none
module wqrc_conv_engine #(
    parameter integer C = 1,            // input channels, height, width
    parameter integer H = 1,
    parameter integer W = 1,
    parameter integer OC = 1,           // output channels, height, width
    parameter integer OH = 1,
    parameter integer OW = 1,
    parameter integer G = 1,            // groups (ONNX)
    parameter integer KH = 1,
    parameter integer KW = 1,
    parameter integer SH = 1,           // strides
    parameter integer SW = 1,
    parameter integer DH = 1,           // dilations
    parameter integer DW = 1,
    parameter integer PT = 0,           // top and left pads (bottom/right are implied by OH, OW)
    parameter integer PL = 0,
    parameter integer PO2 = 1,          // 1: power-of-two codes, 0: DFP
    parameter integer B = 4,            // code bits
    parameter integer A = 8,            // input activation bits
    parameter integer A_SIGNED = 1,
    parameter integer ACC_W = 24,       // the accumulator bound's width (format.md section 3a)
    parameter integer OUT_W = 8,
    parameter integer SHIFT = 0,        // requantization: sh = f_y - (f_x + e_w)
    parameter signed [63:0] LO = -128,  // saturation and fused clamp, inside the output format
    parameter signed [63:0] HI = 127,
    parameter integer P = 1,            // lanes
    parameter integer WORD_W = 32,      // ROM word bits (a power of two)
    parameter integer ROM_AW = 8,
    parameter integer SEG_WORD = 0,     // the layer's first ROM word
    parameter integer IN_AW = 8,
    parameter integer OUT_AW = 8,
    parameter BIAS_FILE = "bias.mem"    // OC accumulator-scale biases, ACC_W-bit hex
) (
    input  wire                clk,
    input  wire                rst,
    input  wire                start,
    output reg                 done,     // one cycle, once the last output is written
    output wire [ROM_AW-1:0]   rom_addr,
    input  wire [WORD_W-1:0]   rom_d0,
    input  wire [WORD_W-1:0]   rom_d1,
    output wire [P*IN_AW-1:0]  in_addr,
    input  wire [P*A-1:0]      in_d,
    output reg                 out_we,
    output reg  [OUT_AW-1:0]   out_addr,
    output reg  [OUT_W-1:0]    out_d
);
    localparam integer CG = C / G;                 // input channels per group
    localparam integer OCG = OC / G;               // output channels per group
    localparam integer T = CG * KH * KW;           // taps per output
    localparam integer NPIX = OH * OW;
    localparam integer GAP = (P > T) ? P - T : 0;
    localparam integer DY = P / OW;                // a lane's step of P pixels: DY rows and DX columns
    localparam integer DX = P % OW;
    localparam integer XW = $clog2(C * H * W + (OH * SH + KH * DH + PT + 2) * (OW * SW + KW * DW + W + PL + 2)) + 2;
    localparam integer WB = $clog2(WORD_W);
    localparam integer BW = $clog2((SEG_WORD + 2) * WORD_W + OC * T * B) + 1;
    localparam integer NW = $clog2(NPIX + P + 1) + 1;
    localparam integer OCW = $clog2(OC + 1) + 1;
    localparam integer TW = $clog2(CG + KH + KW + 2) + 1;
    localparam integer GW = $clog2(GAP + 2) + 1;
    localparam integer LW = $clog2(P + 1) + 1;

    /* verilator lint_off WIDTH */
    // ---- issue: the loop nest ------------------------------------------------------
    reg busy, running;
    reg [GW-1:0] gap;
    reg [TW-1:0] t_ic, t_ky, t_kx;
    reg signed [XW-1:0] kyd, kxd, rowoff, chan_off, grp_chan;   // ky*DH, kx*DW, ky*DH*W, channel bases
    reg [OCW-1:0] oc, ocg;
    reg [NW-1:0] pix0;
    reg [BW-1:0] fbase, cpos;                                    // the filter's and this tap's first bit
    wire first_tap = t_ic == 0 && t_ky == 0 && t_kx == 0;
    wire last_tap = t_ic == CG - 1 && t_ky == KH - 1 && t_kx == KW - 1;
    wire last_pix = pix0 + P >= NPIX;
    wire iss = running && gap == 0;
    wire step_pixels = iss && last_tap && !last_pix;
    wire reset_pixels = start || (iss && last_tap && last_pix);

    always @(posedge clk) begin
        if (rst) begin
            busy <= 1'b0; running <= 1'b0; gap <= 0;
        end else if (start) begin
            busy <= 1'b1; running <= 1'b1; gap <= 0;
            t_ic <= 0; t_ky <= 0; t_kx <= 0; kyd <= 0; kxd <= 0; rowoff <= 0;
            chan_off <= 0; grp_chan <= 0; oc <= 0; ocg <= 0; pix0 <= 0;
            fbase <= SEG_WORD * WORD_W; cpos <= SEG_WORD * WORD_W;
        end else if (gap != 0) begin
            gap <= gap - 1'b1;
        end else if (running) begin
            if (!last_tap) begin
                cpos <= cpos + B;
                if (t_kx != KW - 1) begin
                    t_kx <= t_kx + 1'b1; kxd <= kxd + DW;
                end else begin
                    t_kx <= 0; kxd <= 0;
                    if (t_ky != KH - 1) begin
                        t_ky <= t_ky + 1'b1; kyd <= kyd + DH; rowoff <= rowoff + DH * W;
                    end else begin
                        t_ky <= 0; kyd <= 0; rowoff <= 0;
                        t_ic <= t_ic + 1'b1; chan_off <= chan_off + H * W;
                    end
                end
            end else begin
                t_ic <= 0; t_ky <= 0; t_kx <= 0; kyd <= 0; kxd <= 0; rowoff <= 0;
                gap <= GAP;
                if (!last_pix) begin
                    pix0 <= pix0 + P; cpos <= fbase; chan_off <= grp_chan;
                end else begin
                    pix0 <= 0;
                    if (oc == OC - 1) begin
                        running <= 1'b0;
                    end else begin
                        oc <= oc + 1'b1; fbase <= fbase + T * B; cpos <= fbase + T * B;
                        if (ocg == OCG - 1) begin
                            ocg <= 0; grp_chan <= grp_chan + CG * H * W; chan_off <= grp_chan + CG * H * W;
                        end else begin
                            ocg <= ocg + 1'b1; chan_off <= grp_chan;
                        end
                    end
                end
            end
        end
        if (done) busy <= 1'b0;
    end

    // ---- lanes: pixel coordinates and activation addresses ---------------------------
    reg [P-1:0] s1_ok;
    wire [P-1:0] ok;
    genvar l;
    generate for (l = 0; l < P; l = l + 1) begin : lane
        // the lane's pixel: its column (for the row wrap), the window's top-left corner in
        // the input, and that corner's address; stepped by P pixels with constant adds
        reg signed [XW-1:0] ox, iy0, ix0, base;
        always @(posedge clk) begin
            if (reset_pixels) begin
                ox <= l % OW; iy0 <= (l / OW) * SH - PT; ix0 <= (l % OW) * SW - PL;
                base <= ((l / OW) * SH - PT) * W + (l % OW) * SW - PL;
            end else if (step_pixels) begin
                if (ox >= OW - DX) begin
                    ox <= ox + DX - OW; iy0 <= iy0 + (DY + 1) * SH; ix0 <= ix0 + (DX - OW) * SW;
                    base <= base + (DY + 1) * SH * W + (DX - OW) * SW;
                end else begin
                    ox <= ox + DX; iy0 <= iy0 + DY * SH; ix0 <= ix0 + DX * SW;
                    base <= base + DY * SH * W + DX * SW;
                end
            end
        end
        wire signed [XW-1:0] iy = iy0 + kyd;
        wire signed [XW-1:0] ix = ix0 + kxd;
        wire signed [XW-1:0] addr = chan_off + base + rowoff + kxd;
        assign ok[l] = (pix0 + l < NPIX) && iy >= 0 && iy < H && ix >= 0 && ix < W;
        reg [IN_AW-1:0] a_addr;
        always @(posedge clk) a_addr <= ok[l] ? addr : 0;   // truncated: it fits
        assign in_addr[l*IN_AW +: IN_AW] = a_addr;
    end endgenerate

    // ---- address: the RAM and ROM addresses and the tap's flags, registered -------------
    reg a_v, a_first, a_last;
    reg [P-1:0] a_ok;
    reg [WB-1:0] a_off;
    reg [OCW-1:0] a_oc;
    reg [NW-1:0] a_pix0;
    reg [ROM_AW-1:0] a_rom;
    always @(posedge clk) begin
        a_v <= iss && !rst && !start;
        a_first <= first_tap; a_last <= last_tap; a_ok <= ok;
        a_off <= cpos[WB-1:0]; a_oc <= oc; a_pix0 <= pix0; a_rom <= cpos[BW-1:WB];
    end
    assign rom_addr = a_rom;

    // ---- read: codes and activations arrive --------------------------------------------
    reg s1_v, s1_first, s1_last;
    reg [WB-1:0] s1_off;
    reg [OCW-1:0] s1_oc;
    reg [NW-1:0] s1_pix0;
    reg [ACC_W-1:0] bias_rom [0:OC-1];
    reg [ACC_W-1:0] bias_q;
    initial $readmemh(BIAS_FILE, bias_rom);
    always @(posedge clk) begin
        s1_v <= a_v && !rst;
        s1_first <= a_first; s1_last <= a_last; s1_ok <= a_ok;
        s1_off <= a_off; s1_oc <= a_oc; s1_pix0 <= a_pix0;
        bias_q <= bias_rom[a_oc];
    end
    /* verilator lint_off UNUSEDSIGNAL */
    wire [2*WORD_W-1:0] pair = {rom_d1, rom_d0} >> s1_off;
    /* verilator lint_on UNUSEDSIGNAL */

    // ---- align: the code leaves its word(s) and the padding is applied, registered ------
    // (the ROM's output multiplexer and the extraction shifter would otherwise share a
    // cycle with the PE's adder)
    reg s2_v, s2_first, s2_last;
    reg [OCW-1:0] s2_oc;
    reg [NW-1:0] s2_pix0;
    reg [B-1:0] code;
    reg [ACC_W-1:0] bias_q2;
    always @(posedge clk) begin
        s2_v <= s1_v && !rst;
        s2_first <= s1_first; s2_last <= s1_last; s2_oc <= s1_oc; s2_pix0 <= s1_pix0;
        code <= pair[B-1:0];
        bias_q2 <= bias_q;
    end
    wire [P*ACC_W-1:0] sums;
    generate for (l = 0; l < P; l = l + 1) begin : pe
        reg [A-1:0] x;
        always @(posedge clk) x <= s1_ok[l] ? in_d[l*A +: A] : {A{1'b0}};   // zero padding is q = 0
        if (PO2 != 0) begin : po2
            wqrc_pe_po2 #(.B(B), .A(A), .A_SIGNED(A_SIGNED), .ACC_W(ACC_W)) u(
                .clk(clk), .first(s2_first), .en(s2_v), .bias(bias_q2), .x(x), .code(code),
                .acc(sums[l*ACC_W +: ACC_W]));
        end else begin : dfp
            wqrc_pe_dfp #(.B(B), .A(A), .A_SIGNED(A_SIGNED), .ACC_W(ACC_W)) u(
                .clk(clk), .first(s2_first), .en(s2_v), .bias(bias_q2), .x(x), .code(code),
                .acc(sums[l*ACC_W +: ACC_W]));
        end
    end endgenerate

    // ---- capture and drain: one requantized output per cycle ---------------------------
    reg cap;
    reg [OCW-1:0] cap_oc;
    reg [NW-1:0] cap_pix0;
    reg [P*ACC_W-1:0] dq;          // lane 0 first
    reg [LW-1:0] dleft;
    reg [OUT_AW-1:0] daddr;
    wire [OUT_W-1:0] y;
    wqrc_requant #(.ACC_W(ACC_W), .OUT_W(OUT_W), .SHIFT(SHIFT), .LO(LO), .HI(HI)) rq(
        .acc(dq[ACC_W-1:0]), .y(y));
    always @(posedge clk) begin
        cap <= s2_v && s2_last && !rst;
        cap_oc <= s2_oc; cap_pix0 <= s2_pix0;
        out_we <= 1'b0;
        if (rst) begin
            dleft <= 0; cap <= 1'b0;
        end else begin
            if (dleft != 0) begin
                out_we <= 1'b1; out_addr <= daddr; out_d <= y;
                daddr <= daddr + 1'b1; dleft <= dleft - 1'b1;
                dq <= dq >> ACC_W;
            end
            if (cap) begin
                dq <= sums;
                dleft <= (NPIX - cap_pix0 < P) ? NPIX - cap_pix0 : P;
                daddr <= cap_oc * NPIX + cap_pix0;
            end
        end
        done <= busy && !start && !rst && !running && !a_v && !s1_v && !s2_v && !cap && dleft == 0 && !done;
    end
    /* verilator lint_on WIDTH */
endmodule
`default_nettype wire
