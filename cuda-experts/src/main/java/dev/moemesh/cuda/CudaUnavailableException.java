package dev.moemesh.cuda;

/** No CUDA device can serve experts here; the message says why in one line (no driver, no device, too old). */
public final class CudaUnavailableException extends RuntimeException {

    CudaUnavailableException(String why) {
        super(why);
    }
}
