// Upsampling (docs/format.md section 3f), one output element per cycle in output order:
// nearest-neighbour copies by SH x SW, or (ZEROS = 1) the input spread over a
// (H-1)*SH+1 x (W-1)*SW+1 map of zeros. Counters, not divisions, give the input address:
// (ry, rx) count the repeats of the current input row and column.
`default_nettype none
module wqrc_upsample_engine #(
    parameter integer C = 1, H = 1, W = 1,            // the input map
    parameter integer SH = 2, SW = 2,                 // the factors down and across
    parameter integer ZEROS = 0,
    parameter integer A = 8,              // element bits (the format is unchanged)
    parameter integer IN_AW = 8,
    parameter integer OUT_AW = 8
) (
`include "wqrc_engine_ports.vh"
    output wire [IN_AW-1:0]  in_addr,
    input  wire [A-1:0]      in_d,
    output wire [A-1:0]      out_d
);
    localparam integer OH = ZEROS != 0 ? (H - 1) * SH + 1 : H * SH;
    localparam integer OW = ZEROS != 0 ? (W - 1) * SW + 1 : W * SW;
    localparam integer N = C * OH * OW;
    localparam integer IW = $clog2(N + 1) + 1;
    localparam integer XW = $clog2(C * H * W + 1) + 1;
    localparam integer RW = $clog2((SH > SW ? SH : SW) + 1) + 1;
    localparam integer DW = $clog2((OH > OW ? OH : OW) + 1) + 1;
    /* verilator lint_off WIDTH */
`include "wqrc_engine_busy.vh"
    reg running;
    reg [IW-1:0] i;                       // output element
    reg [DW-1:0] ox, oy;                  // output column, row
    reg [RW-1:0] rx, ry;                  // repeats of the current input column, row
    reg [XW-1:0] row_base, addr;          // input address of the row's first element, of the element
    assign in_addr = addr;
    wire on = ZEROS == 0 || (rx == 0 && ry == 0);
    always @(posedge clk) begin
        if (rst) begin
            running <= 1'b0;
        end else if (start) begin
            running <= 1'b1; i <= 0; ox <= 0; oy <= 0; rx <= 0; ry <= 0;
            row_base <= 0; addr <= 0;
        end else if (running) begin
            i <= i + 1'b1;
            if (i == N - 1) running <= 1'b0;
            if (ox == OW - 1) begin                      // next output row
                ox <= 0; rx <= 0;
                if (oy == OH - 1) begin                  // next channel: its first row
                    oy <= 0; ry <= 0; row_base <= row_base + W; addr <= row_base + W;
                end else begin
                    oy <= oy + 1'b1;
                    if (ry == SH - 1) begin              // next input row
                        ry <= 0; row_base <= row_base + W; addr <= row_base + W;
                    end else begin
                        ry <= ry + 1'b1; addr <= row_base;
                    end
                end
            end else begin
                ox <= ox + 1'b1;
                if (rx == SW - 1) begin
                    rx <= 0; addr <= addr + 1'b1;
                end else begin
                    rx <= rx + 1'b1;
                end
            end
        end
    end

    wqrc_copy_stage #(.A(A), .IW(IW), .OUT_AW(OUT_AW)) out_stage(
        .clk(clk), .rst(rst), .start(start), .busy(busy), .running(running), .take(on), .i(i),
        .in_d(in_d), .fill({A{1'b0}}), .done(done), .out_we(out_we), .out_addr(out_addr), .out_d(out_d));
    /* verilator lint_on WIDTH */
endmodule
`default_nettype wire
