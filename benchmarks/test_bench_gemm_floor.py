"""gemm_floor.py on a tiny U-Net step: it must find every convolution's GEMMs and give a floor
below the real step time."""
import gemm_floor


def test_gemm_floor_records_every_convolution_and_stays_below_a_real_step(capsys):
    gemms = gemm_floor.record_gemms(batch=1, size=16)
    # UNet(1, 1, 16, 3): 10 3x3 convolutions and 3 1x1 ones; each does one forward GEMM and one
    # weight GEMM; every one but the first layer also computes its input gradient as a
    # convolution (stride 1), another "conv" GEMM
    assert sum(n for key, n in gemms.items() if key[0] == "weight") == 13
    assert sum(n for key, n in gemms.items() if key[0] == "conv") == 13 + 12
    assert ("conv", 16, 9, 16 * 16) in gemms                      # the input layer, 1 -> 16
    assert ("weight", 64, 576, 4 * 4) in gemms                    # the bottleneck, 64 -> 64
    floor, step = gemm_floor.main(["--batch", "1", "--size", "16", "--repeats", "1", "--cores", "1",
                             "--step"])
    out = capsys.readouterr().out
    assert 0 < floor < step and "floor:" in out and "a real step" in out
