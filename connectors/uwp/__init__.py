"""UiTwisselingsplatform (UWP) data-product CSV drops (OSLO Cultuurparticipatie)."""
